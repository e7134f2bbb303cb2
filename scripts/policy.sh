# Sourced by env.sh, this checkout's and the offline kit's (which carries it as policy/policy.sh,
# checked with the rest): one rule for when a pulumi command line gets the policy pack.
#
# airgap_needs_policy succeeds when the pulumi arguments "$@" are a preview or an up that names
# no --policy-pack: the shell's pulumi function then adds the pack, so the rules are not
# optional there either (airgap site always runs it).
airgap_needs_policy() {
  local a cmd="" skip=""
  for a in "$@"; do
    if [ -n "$skip" ]; then skip=""; continue; fi
    case $a in
      --policy-pack | --policy-pack=*) return 1 ;;
      -s | --stack | -C | --cwd | --config-file | --color | -v | --verbose | --tracing) skip=1 ;;
      -*) ;;
      *) [ -z "$cmd" ] && cmd=$a ;;
    esac
  done
  case $cmd in
    preview | pre | up | update) return 0 ;;
  esac
  return 1
}
