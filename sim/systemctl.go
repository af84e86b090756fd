package sim

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// systemctl runs one systemctl command line against a node's service
// manager and returns what systemctl would print and its exit code.
// Exit codes follow systemctl: 0 ok, 1 failure, 3 not active, 4 no such
// unit (status), 5 unit not found (start/stop).
func systemctl(svc *service, args []string) (stdout, stderr string, code int) {
	c := parseSystemctl(args)
	if c.verb == "" {
		return "", "systemctl (nwroll simulator): give a command, e.g. 'systemctl is-active neuwerk.service'\n", 1
	}
	c.svc = svc
	switch c.verb {
	case "start", "stop", "restart", "try-restart", "reload-or-restart", "condrestart", "force-reload":
		c.control()
	case "is-active", "is-failed":
		c.isState()
	case "is-enabled":
		c.isEnabled()
	case "status":
		c.status()
	case "show":
		c.show()
	case "kill":
		c.kill()
	case "daemon-reload", "daemon-reexec", "reset-failed", "enable", "disable", "reenable", "mask", "unmask", "preset":
		// Nothing to reload: the unit is built in.
	default:
		fmt.Fprintf(&c.errOut, "Unknown command verb '%s'.\n", c.verb)
		c.code = 1
	}
	return c.out.String(), c.errOut.String(), c.code
}

// systemctlCmd is one systemctl command line: its verb, units and options,
// and what it prints and exits with.
type systemctlCmd struct {
	verb      string
	units     []string
	quiet     bool
	lines     int
	props     []string
	valueOnly bool
	killSig   syscall.Signal

	svc         *service
	out, errOut bytes.Buffer
	code        int
}

// parseSystemctl reads the options systemctl's verbs here use, and ignores the rest.
func parseSystemctl(args []string) *systemctlCmd {
	c := &systemctlCmd{lines: 10, killSig: syscall.SIGTERM}
	for i := 0; i < len(args); i++ {
		a := args[i]
		next := func() string {
			if i+1 < len(args) {
				i++
				return args[i]
			}
			return ""
		}
		switch {
		case a == "-q" || a == "--quiet":
			c.quiet = true
		case a == "-n" || a == "--lines":
			c.lines, _ = strconv.Atoi(next())
		case strings.HasPrefix(a, "--lines="):
			c.lines, _ = strconv.Atoi(strings.TrimPrefix(a, "--lines="))
		case a == "-p" || a == "--property":
			c.props = append(c.props, strings.Split(next(), ",")...)
		case strings.HasPrefix(a, "--property="):
			c.props = append(c.props, strings.Split(strings.TrimPrefix(a, "--property="), ",")...)
		case strings.HasPrefix(a, "-p") && len(a) > 2:
			c.props = append(c.props, strings.Split(a[2:], ",")...)
		case a == "--value":
			c.valueOnly = true
		case a == "-s" || a == "--signal":
			c.killSig = parseSignal(next())
		case strings.HasPrefix(a, "--signal="):
			c.killSig = parseSignal(strings.TrimPrefix(a, "--signal="))
		case strings.HasPrefix(a, "-"):
			// --no-pager, --no-block, --system, -l, --full, --no-ask-password, ...: nothing to do.
		case c.verb == "":
			c.verb = a
		default:
			c.units = append(c.units, a)
		}
	}
	return c
}

// knownUnit reports whether u names the node's one unit.
func knownUnit(u string) bool { return u == "neuwerk" || u == unitName }

// canonUnit is u as systemctl names it in messages.
func canonUnit(u string) string {
	if !strings.Contains(u, ".") {
		return u + ".service"
	}
	return u
}

// needUnits reports whether units were given, failing the command as
// systemctl does when none were.
func (c *systemctlCmd) needUnits() bool {
	if len(c.units) == 0 {
		fmt.Fprintf(&c.errOut, "Too few arguments.\n")
		c.code = 1
		return false
	}
	return true
}

// control starts, stops or restarts the service.
func (c *systemctlCmd) control() {
	if !c.needUnits() {
		return
	}
	for _, u := range c.units {
		if !knownUnit(u) {
			fmt.Fprintf(&c.errOut, "Failed to %s %s: Unit %s not found.\n", c.verb, canonUnit(u), canonUnit(u))
			c.code = 5
			continue
		}
		if err := c.apply(); err != nil {
			fmt.Fprintf(&c.errOut, "Job for %s failed because the control process exited with error code.\n", unitName)
			fmt.Fprintf(&c.errOut, "See \"systemctl status %s\" and \"journalctl -xeu %s\" for details.\n", unitName, unitName)
			fmt.Fprintf(&c.errOut, "(%v)\n", err)
			c.code = 1
		}
	}
}

// apply does what the control verb asks of the service.
func (c *systemctlCmd) apply() error {
	svc := c.svc
	switch c.verb {
	case "start":
		return svc.Start()
	case "stop":
		return svc.Stop()
	case "try-restart", "condrestart": // restart a running service only
		if svc.Status().ActiveState != "active" {
			return nil
		}
	}
	if err := svc.Stop(); err != nil {
		return err
	}
	return svc.Start()
}

// isState is is-active and is-failed.
func (c *systemctlCmd) isState() {
	if !c.needUnits() {
		return
	}
	all := true
	for _, u := range c.units {
		state := "inactive"
		if knownUnit(u) {
			state = c.svc.Status().ActiveState
		}
		if !c.quiet {
			fmt.Fprintln(&c.out, state)
		}
		if (c.verb == "is-active" && state != "active") || (c.verb == "is-failed" && state != "failed") {
			all = false
		}
	}
	if !all {
		c.code = 3
		if c.verb == "is-failed" {
			c.code = 1
		}
	}
}

func (c *systemctlCmd) isEnabled() {
	if !c.needUnits() {
		return
	}
	for _, u := range c.units {
		if !knownUnit(u) {
			fmt.Fprintf(&c.errOut, "Failed to get unit file state for %s: No such file or directory\n", canonUnit(u))
			c.code = 1
			continue
		}
		if !c.quiet {
			fmt.Fprintln(&c.out, "enabled")
		}
	}
}

func (c *systemctlCmd) status() {
	units := c.units
	if len(units) == 0 {
		units = []string{unitName}
	}
	for _, u := range units {
		if !knownUnit(u) {
			fmt.Fprintf(&c.errOut, "Unit %s could not be found.\n", canonUnit(u))
			c.code = 4
			continue
		}
		st := c.svc.Status()
		writeStatus(&c.out, c.svc.node, st, c.lines)
		if st.ActiveState != "active" && c.code == 0 {
			c.code = 3
		}
	}
}

func (c *systemctlCmd) show() {
	units := c.units
	if len(units) == 0 {
		units = []string{unitName}
	}
	for _, u := range units {
		writeShow(&c.out, knownUnit(u), canonUnit(u), c.svc.node, c.svc.Status(), c.props, c.valueOnly)
	}
}

func (c *systemctlCmd) kill() {
	if !c.needUnits() {
		return
	}
	for _, u := range c.units {
		if !knownUnit(u) {
			fmt.Fprintf(&c.errOut, "Failed to kill unit %s: Unit %s not loaded.\n", canonUnit(u), canonUnit(u))
			c.code = 1
			continue
		}
		if err := c.svc.Signal(c.killSig); err != nil {
			fmt.Fprintf(&c.errOut, "Failed to kill unit %s: %v\n", unitName, err)
			c.code = 1
		}
	}
}

func parseSignal(s string) syscall.Signal {
	s = strings.TrimPrefix(strings.ToUpper(s), "SIG")
	switch s {
	case "KILL", "9":
		return syscall.SIGKILL
	case "INT", "2":
		return syscall.SIGINT
	case "HUP", "1":
		return syscall.SIGHUP
	case "QUIT", "3":
		return syscall.SIGQUIT
	case "ABRT", "6":
		return syscall.SIGABRT
	case "USR1":
		return syscall.SIGUSR1
	case "USR2":
		return syscall.SIGUSR2
	}
	return syscall.SIGTERM
}

func systemdTime(t time.Time) string { return t.Format("Mon 2006-01-02 15:04:05 MST") }

func agoString(t time.Time) string {
	d := time.Since(t).Round(time.Second)
	if d < time.Second {
		return "now"
	}
	if d < time.Minute {
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	}
	if d < time.Hour {
		return fmt.Sprintf("%dmin %ds ago", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh %dmin ago", int(d.Hours()), int(d.Minutes())%60)
}

// writeStatus prints `systemctl status neuwerk.service --no-pager`.
func writeStatus(out *bytes.Buffer, node NodeInfo, st ServiceStatus, lines int) {
	dot := "○"
	switch st.ActiveState {
	case "active", "activating", "deactivating":
		dot = "●"
	case "failed":
		dot = "×"
	}
	fmt.Fprintf(out, "%s %s - Neuwerk (nwroll simulator, node %s)\n", dot, unitName, node.Name)
	fmt.Fprintf(out, "     Loaded: loaded (/etc/systemd/system/%s; enabled; preset: enabled)\n", unitName)
	state := fmt.Sprintf("%s (%s)", st.ActiveState, st.SubState)
	if st.Result != "success" && st.ActiveState != "active" {
		state += fmt.Sprintf(" (Result: %s)", st.Result)
	}
	fmt.Fprintf(out, "     Active: %s since %s; %s\n", state, systemdTime(st.Since), agoString(st.Since))
	if st.LastExit != "" && st.MainPID == 0 {
		fmt.Fprintf(out, "    Process: ExecStart=%s (%s)\n", node.Binary, st.LastExit)
	}
	if st.NRestarts > 0 {
		fmt.Fprintf(out, "   Restarts: %d\n", st.NRestarts)
	}
	if st.MainPID != 0 {
		fmt.Fprintf(out, "   Main PID: %d (neuwerk)\n", st.MainPID)
		fmt.Fprintf(out, "     CGroup: /system.slice/%s\n", unitName)
		fmt.Fprintf(out, "             └─%d %s\n", st.MainPID, node.Binary)
	}
	if lines > 0 {
		if tail := tailFile(node.Log, lines); tail != "" {
			out.WriteString("\n")
			out.WriteString(tail)
		}
	}
}

// writeShow prints `systemctl show` properties (all the simulator knows, or the asked ones).
func writeShow(out *bytes.Buffer, known bool, unit string, node NodeInfo, st ServiceStatus, props []string, valueOnly bool) {
	all := [][2]string{
		{"Id", unit},
		{"LoadState", "not-found"},
		{"ActiveState", "inactive"},
		{"SubState", "dead"},
		{"Result", "success"},
		{"MainPID", "0"},
		{"NRestarts", "0"},
		{"Restart", "on-failure"},
		{"RestartUSec", "0"},
		{"ExecMainStartTimestamp", ""},
		{"StateChangeTimestamp", ""},
		{"FragmentPath", ""},
		{"UnitFileState", ""},
	}
	if known {
		all = [][2]string{
			{"Id", unitName},
			{"LoadState", "loaded"},
			{"ActiveState", st.ActiveState},
			{"SubState", st.SubState},
			{"Result", st.Result},
			{"MainPID", strconv.Itoa(st.MainPID)},
			{"NRestarts", strconv.Itoa(st.NRestarts)},
			{"Restart", "on-failure"},
			{"RestartUSec", DefaultRestartDelay.String()},
			{"ExecMainStartTimestamp", systemdTime(st.Since)},
			{"StateChangeTimestamp", systemdTime(st.Since)},
			{"FragmentPath", "/etc/systemd/system/" + unitName},
			{"UnitFileState", "enabled"},
			{"ExecStart", node.Binary},
		}
	}
	for _, kv := range all {
		if len(props) > 0 && !contains(props, kv[0]) {
			continue
		}
		if valueOnly {
			fmt.Fprintln(out, kv[1])
		} else {
			fmt.Fprintf(out, "%s=%s\n", kv[0], kv[1])
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// tailFile returns the last n lines of path ("" when unreadable).
func tailFile(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	const chunk = 64 << 10
	st, err := f.Stat()
	if err != nil {
		return ""
	}
	off := st.Size() - chunk
	if off < 0 {
		off = 0
	}
	buf := make([]byte, st.Size()-off)
	if _, err := f.ReadAt(buf, off); err != nil {
		return ""
	}
	ls := strings.Split(strings.TrimRight(string(buf), "\n"), "\n")
	if off > 0 && len(ls) > 0 {
		ls = ls[1:] // a partial first line
	}
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	if len(ls) == 0 || (len(ls) == 1 && ls[0] == "") {
		return ""
	}
	return strings.Join(ls, "\n") + "\n"
}
