# Sourced by run.sh and local/pretrain_demo.sh (Kaldi's parse_options.sh idea): `--name value` sets the shell
# variable `name` (dashes become underscores) if `name` is listed in "$options"; -h/--help calls `usage`.
# Also defines log() and die(), so every script logs in one format.

log() { echo -e "$(date '+%F %T') ($(basename "$0")) $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --*)
      name=${1#--}; name=${name//-/_}
      [ $# -ge 2 ] || die "option $1 needs a value"
      [[ $options == *" $name "* ]] || die "unknown option $1 (see $0 --help)"
      printf -v "$name" '%s' "$2"; shift 2 ;;
    *) die "unexpected argument $1 (options are --name value)" ;;
  esac
done
