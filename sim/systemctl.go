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
	var out, errOut bytes.Buffer
	quiet, lines := false, 10
	var props []string
	valueOnly := false
	killSig := syscall.SIGTERM
	var verb string
	var units []string
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
			quiet = true
		case a == "-n" || a == "--lines":
			lines, _ = strconv.Atoi(next())
		case strings.HasPrefix(a, "--lines="):
			lines, _ = strconv.Atoi(strings.TrimPrefix(a, "--lines="))
		case a == "-p" || a == "--property":
			props = append(props, strings.Split(next(), ",")...)
		case strings.HasPrefix(a, "--property="):
			props = append(props, strings.Split(strings.TrimPrefix(a, "--property="), ",")...)
		case strings.HasPrefix(a, "-p") && len(a) > 2:
			props = append(props, strings.Split(a[2:], ",")...)
		case a == "--value":
			valueOnly = true
		case a == "-s" || a == "--signal":
			killSig = parseSignal(next())
		case strings.HasPrefix(a, "--signal="):
			killSig = parseSignal(strings.TrimPrefix(a, "--signal="))
		case strings.HasPrefix(a, "-"):
			// --no-pager, --no-block, --system, -l, --full, --no-ask-password, ...: nothing to do.
		case verb == "":
			verb = a
		default:
			units = append(units, a)
		}
	}
	if verb == "" {
		return "", "systemctl (nwroll simulator): give a command, e.g. 'systemctl is-active neuwerk.service'\n", 1
	}
	known := func(u string) bool { return u == "neuwerk" || u == unitName }
	canon := func(u string) string {
		if !strings.Contains(u, ".") {
			return u + ".service"
		}
		return u
	}
	needUnits := func() bool {
		if len(units) == 0 {
			fmt.Fprintf(&errOut, "Too few arguments.\n")
			code = 1
			return false
		}
		return true
	}

	switch verb {
	case "start", "stop", "restart", "try-restart", "reload-or-restart", "condrestart", "force-reload":
		if !needUnits() {
			break
		}
		for _, u := range units {
			if !known(u) {
				fmt.Fprintf(&errOut, "Failed to %s %s: Unit %s not found.\n", verb, canon(u), canon(u))
				code = 5
				continue
			}
			var err error
			switch verb {
			case "start":
				err = svc.Start()
			case "stop":
				err = svc.Stop()
			case "try-restart", "condrestart":
				if svc.Status().ActiveState == "active" {
					if err = svc.Stop(); err == nil {
						err = svc.Start()
					}
				}
			default:
				if err = svc.Stop(); err == nil {
					err = svc.Start()
				}
			}
			if err != nil {
				fmt.Fprintf(&errOut, "Job for %s failed because the control process exited with error code.\n", unitName)
				fmt.Fprintf(&errOut, "See \"systemctl status %s\" and \"journalctl -xeu %s\" for details.\n", unitName, unitName)
				fmt.Fprintf(&errOut, "(%v)\n", err)
				code = 1
			}
		}
	case "is-active", "is-failed":
		if !needUnits() {
			break
		}
		all := true
		for _, u := range units {
			state := "inactive"
			if known(u) {
				state = svc.Status().ActiveState
			}
			if !quiet {
				fmt.Fprintln(&out, state)
			}
			if (verb == "is-active" && state != "active") || (verb == "is-failed" && state != "failed") {
				all = false
			}
		}
		if !all {
			code = 3
			if verb == "is-failed" {
				code = 1
			}
		}
	case "is-enabled":
		if !needUnits() {
			break
		}
		for _, u := range units {
			if !known(u) {
				fmt.Fprintf(&errOut, "Failed to get unit file state for %s: No such file or directory\n", canon(u))
				code = 1
				continue
			}
			if !quiet {
				fmt.Fprintln(&out, "enabled")
			}
		}
	case "status":
		if len(units) == 0 {
			units = []string{unitName}
		}
		for _, u := range units {
			if !known(u) {
				fmt.Fprintf(&errOut, "Unit %s could not be found.\n", canon(u))
				code = 4
				continue
			}
			st := svc.Status()
			writeStatus(&out, svc.node, st, lines)
			if st.ActiveState != "active" && code == 0 {
				code = 3
			}
		}
	case "show":
		if len(units) == 0 {
			units = []string{unitName}
		}
		for _, u := range units {
			writeShow(&out, known(u), canon(u), svc.node, svc.Status(), props, valueOnly)
		}
	case "kill":
		if !needUnits() {
			break
		}
		for _, u := range units {
			if !known(u) {
				fmt.Fprintf(&errOut, "Failed to kill unit %s: Unit %s not loaded.\n", canon(u), canon(u))
				code = 1
				continue
			}
			if err := svc.Signal(killSig); err != nil {
				fmt.Fprintf(&errOut, "Failed to kill unit %s: %v\n", unitName, err)
				code = 1
			}
		}
	case "daemon-reload", "daemon-reexec", "reset-failed", "enable", "disable", "reenable", "mask", "unmask", "preset":
		// Nothing to reload: the unit is built in.
	default:
		fmt.Fprintf(&errOut, "Unknown command verb '%s'.\n", verb)
		code = 1
	}
	return out.String(), errOut.String(), code
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
