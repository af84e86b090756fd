package sim

import (
	"fmt"
	"strings"
)

// shellQuote quotes s for /bin/sh: one single-quoted word.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=@%+,", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// releaseScript is a release's `neuwerk` launcher. Its text names the release
// and fault, so every release has its own sha256.
func releaseScript(simExe, version, fault string) string {
	return fmt.Sprintf(`#!/bin/sh
# neuwerk (nwroll simulator) release %s, fault %s
exec %s __neuwerk --release %s --fault %s --self "$0" "$@"
`, version, fault, shellQuote(simExe), shellQuote(version), shellQuote(fault))
}

// systemctlShim forwards to the supervisor's service manager.
func systemctlShim(simExe, dir, node string) string {
	return fmt.Sprintf(`#!/bin/sh
# systemctl (nwroll simulator): neuwerk.service on node %s is managed by the cluster's supervisor.
exec %s __sim-ctl --dir %s --node %s "$@"
`, node, shellQuote(simExe), shellQuote(dir), shellQuote(node))
}

// neuwerkShim stands for the /usr/local/bin/neuwerk symlink of a real node.
// It execs the installed binary by its own path, because the launcher finds
// the node's root from $0.
func neuwerkShim(binary string) string {
	return fmt.Sprintf(`#!/bin/sh
# neuwerk (nwroll simulator): runs whatever release is installed now.
exec %s "$@"
`, shellQuote(binary))
}

// sudoShim drops sudo's own options and runs the command as the SSH user.
const sudoShim = `#!/bin/sh
# sudo (nwroll simulator): the simulated node has no root; drop sudo's options
# (-n, -E, -H, -u USER, ...) and run the command as the logged-in user.
while [ $# -gt 0 ]; do
  case "$1" in
    --) shift; break ;;
    -u|-g|-h|-p|-C|-D|-r|-t|-T|-U) shift 2 ;;
    --user=*|--group=*|--host=*|--prompt=*|--close-from=*|--chdir=*|--role=*|--type=*|--command-timeout=*|--other-user=*|--preserve-env=*) shift ;;
    --non-interactive|--preserve-env|--set-home|--stdin|--reset-timestamp|--remove-timestamp|--background|--preserve-groups|--login|--shell) shift ;;
    -[nEHSkKbPis]|-[nEHSkKbPis][nEHSkKbPis]|-[nEHSkKbPis][nEHSkKbPis][nEHSkKbPis]) shift ;;
    -u*|-g*) shift ;;
    -*) echo "sudo: option $1 is not supported by the nwroll simulator's sudo" >&2; exit 1 ;;
    [A-Za-z_]*=*) export "$1"; shift ;;
    *) break ;;
  esac
done
if [ $# -eq 0 ]; then
  echo "usage: sudo [-n] [-E] [-u user] command [args...]" >&2
  exit 1
fi
exec "$@"
`

// journalctlShim prints the node's neuwerk.service log.
func journalctlShim(logPath string) string {
	return fmt.Sprintf(`#!/bin/sh
# journalctl (nwroll simulator): the neuwerk.service log of this node.
log=%s
lines=all
follow=
unit=neuwerk.service
while [ $# -gt 0 ]; do
  case "$1" in
    -u|--unit) unit="$2"; shift 2 ;;
    --unit=*) unit="${1#--unit=}"; shift ;;
    -u*) unit="${1#-u}"; shift ;;
    -n|--lines)
      case "$2" in
        ''|-*|*[!0-9]*) lines=10; shift ;;
        *) lines="$2"; shift 2 ;;
      esac ;;
    --lines=*) lines="${1#--lines=}"; shift ;;
    -n*) lines="${1#-n}"; shift ;;
    -f|--follow) follow=1; shift ;;
    -e|--pager-end) lines=1000; shift ;;
    -o|--output|-p|--priority|-S|--since|-U|--until|-t|--identifier|-b|--boot)
      case "$2" in
        ''|-*) shift ;;
        *) if [ "$1" = -b ] || [ "$1" = --boot ]; then shift; else shift 2; fi ;;
      esac ;;
    *) shift ;;
  esac
done
case "$unit" in
  neuwerk|neuwerk.service) ;;
  *) echo "-- No entries --"; exit 0 ;;
esac
if [ ! -s "$log" ]; then
  echo "-- No entries --"
  exit 0
fi
if [ -n "$follow" ]; then
  [ "$lines" = all ] && lines=10
  exec tail -n "$lines" -f "$log"
fi
if [ "$lines" = all ]; then
  exec cat "$log"
fi
exec tail -n "$lines" "$log"
`, shellQuote(logPath))
}
