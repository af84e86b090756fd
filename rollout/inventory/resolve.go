package inventory

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"path"
	"regexp"
	"strconv"
	"strings"
)

var (
	safeNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)
	envNameRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	hostRE     = regexp.MustCompile(`^[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?$`)
	userRE     = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*\$?$`)
	unitRE     = regexp.MustCompile(`^[A-Za-z0-9:_.@\\-]+$`)
)

// resolve applies defaults and ssh_config, validates, and builds the Inventory.
func resolve(c *collector, raw *rawInventory, e *env) *Inventory {
	inv := &Inventory{Path: c.file}
	if e.sshErr != "" {
		c.add(0, "%s", e.sshErr)
	} else if e.sshConfig != nil {
		inv.SSHConfig = e.sshConfig.path
	}

	// cluster
	switch {
	case !raw.cluster.set || raw.cluster.v == "":
		c.add(raw.firstLine, "`cluster:` is missing: name the cluster (e.g. `cluster: prod-eu1`); it names the journal and the lock")
	case !safeNameRE.MatchString(raw.cluster.v) || raw.cluster.v == "." || raw.cluster.v == "..":
		c.add(raw.cluster.line, "cluster %q is not a safe directory name (it names $XDG_STATE_HOME/nwroll/<cluster>/): use up to 63 letters, digits, '.', '_' and '-', starting with a letter or digit", raw.cluster.v)
	default:
		inv.Cluster = raw.cluster.v
	}

	// ssh
	s := &inv.SSH
	s.User = e.localUser
	if raw.ssh.user.set {
		s.User = raw.ssh.user.v
		checkUser(c, raw.ssh.user.line, "ssh.user", s.User)
	}
	s.Port = DefaultSSHPort
	if raw.ssh.port.set {
		s.Port = raw.ssh.port.v
		checkPort(c, raw.ssh.port.line, "ssh.port", s.Port)
	}
	for i, f := range raw.ssh.identityFiles.v {
		line := raw.ssh.identityFiles.line
		if i < len(raw.ssh.identityLines) {
			line = raw.ssh.identityLines[i]
		}
		p := e.localPath(f)
		if f == "" {
			c.add(line, "ssh.identity_files lists an empty path: remove it")
			continue
		}
		if st, err := os.Stat(p); err != nil {
			c.add(line, "identity file %s does not exist: fix the path, or remove it from ssh.identity_files (keys in the agent at $SSH_AUTH_SOCK are used too)", p)
			continue
		} else if st.IsDir() {
			c.add(line, "identity file %s is a directory: name the private key file, e.g. ~/.ssh/id_ed25519", p)
			continue
		}
		s.IdentityFiles = append(s.IdentityFiles, p)
	}
	khLine := raw.ssh.line
	if khLine == 0 {
		khLine = raw.firstLine
	}
	s.KnownHosts = e.localPath(DefaultKnownHosts)
	if raw.ssh.knownHosts.set && raw.ssh.knownHosts.v != "" {
		s.KnownHosts = e.localPath(raw.ssh.knownHosts.v)
		khLine = raw.ssh.knownHosts.line
	}
	s.Sudo = DefaultSudo
	if raw.ssh.sudo.set {
		s.Sudo = raw.ssh.sudo.v
	}
	if raw.ssh.jumpHost.set {
		s.JumpHost = strings.TrimSpace(raw.ssh.jumpHost.v)
		if _, err := parseJumpSpec(s.JumpHost); err != "" {
			c.add(raw.ssh.jumpHost.line, "ssh.jump_host %q: %s", s.JumpHost, err)
		}
	}

	// api
	inv.API = API{Port: DefaultAPIPort, MetricsPort: DefaultMetricsPort, TokenEnv: DefaultTokenEnv}
	if raw.api.port.set {
		inv.API.Port = raw.api.port.v
		checkPort(c, raw.api.port.line, "api.port", inv.API.Port)
	}
	if raw.api.metricsPort.set {
		inv.API.MetricsPort = raw.api.metricsPort.v
		checkPort(c, raw.api.metricsPort.line, "api.metrics_port", inv.API.MetricsPort)
	}
	if raw.api.port.set && raw.api.metricsPort.set && inv.API.Port == inv.API.MetricsPort {
		c.add(raw.api.metricsPort.line, "api.metrics_port is the same as api.port (%d): Neuwerk serves HTTPS on 8443 and metrics on 8080 by default", inv.API.Port)
	}
	if raw.api.caFile.set && raw.api.caFile.v != "" {
		p := e.localPath(raw.api.caFile.v)
		if st, err := os.Stat(p); err != nil || st.IsDir() {
			c.add(raw.api.caFile.line, "api.ca_file %s does not exist: fix the path, or leave ca_file empty to fetch <data_root>/http-tls/ca.crt from the node over SSH", p)
		}
		inv.API.CAFile = p
	}
	if raw.api.tokenEnv.set {
		inv.API.TokenEnv = raw.api.tokenEnv.v
		if !envNameRE.MatchString(inv.API.TokenEnv) {
			c.add(raw.api.tokenEnv.line, "api.token_env %q is not an environment variable name: use letters, digits and '_' (default %s)", inv.API.TokenEnv, DefaultTokenEnv)
		}
	}

	// paths
	inv.Paths = Paths{Binary: DefaultBinary, DataRoot: DefaultDataRoot, BackupDir: DefaultBackupDir}
	inv.Paths = applyPaths(c, inv.Paths, raw.paths, "paths")
	checkPathRelations(c, inv.Paths, raw.paths, "paths", raw.firstLine)

	// service
	unit := DefaultUnit
	if raw.service.unit.set {
		unit = raw.service.unit.v
		if !unitRE.MatchString(unit) {
			c.add(raw.service.unit.line, "service.unit %q is not a systemd unit name such as neuwerk.service", unit)
		}
	}
	inv.Service = Service{
		Unit:     unit,
		Stop:     serviceCmd(c, raw.service.stop, "service.stop", []string{"systemctl", "stop", unit}),
		Start:    serviceCmd(c, raw.service.start, "service.start", []string{"systemctl", "start", unit}),
		IsActive: serviceCmd(c, raw.service.isActive, "service.is_active", []string{"systemctl", "is-active", unit}),
	}

	// gates
	inv.Gates = Gates{Timeout: DefaultGateTimeout, Stabilisation: DefaultStabilisation}
	if raw.gates.timeout.set {
		inv.Gates.Timeout = raw.gates.timeout.v
		if inv.Gates.Timeout <= 0 {
			c.add(raw.gates.timeout.line, "gates.timeout must be positive, e.g. 5m")
		}
	}
	if raw.gates.stabilisation.set {
		inv.Gates.Stabilisation = raw.gates.stabilisation.v
		if inv.Gates.Stabilisation < 0 {
			c.add(raw.gates.stabilisation.line, "gates.stabilisation must not be negative, e.g. 15s")
		}
	}
	if inv.Gates.Timeout > 0 && inv.Gates.Stabilisation >= inv.Gates.Timeout {
		line := raw.gates.timeout.line
		if line == 0 {
			line = raw.gates.stabilisation.line
		}
		c.add(line, "gates.timeout (%s) must be longer than gates.stabilisation (%s), or no gate could ever pass: raise the timeout", inv.Gates.Timeout, inv.Gates.Stabilisation)
	}

	// known_hosts (after the nodes are known, so the fix can name them)
	defer func() {
		st, err := os.Stat(s.KnownHosts)
		if err == nil && !st.IsDir() {
			return
		}
		var fixes []string
		for i, n := range inv.nodes {
			if i == 3 {
				fixes = append(fixes, "  ...")
				break
			}
			fixes = append(fixes, fmt.Sprintf("  ssh-keyscan -p %d %s >> %s", n.SSHPort, n.Host, s.KnownHosts))
		}
		if len(fixes) == 0 {
			fixes = []string{fmt.Sprintf("  ssh-keyscan -p PORT HOST >> %s", s.KnownHosts)}
		}
		what := "does not exist"
		if err == nil {
			what = "is a directory"
		}
		c.add(khLine, "known_hosts file %s %s: nwroll checks every host key strictly and never trusts a key on first use. "+
			"Verify each node's host key fingerprint out of band (on the node: ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), then add it:\n%s\n"+
			"and check what was added with `ssh-keygen -lf %s`; or point ssh.known_hosts at the file that holds them",
			s.KnownHosts, what, strings.Join(fixes, "\n"), s.KnownHosts)
	}()

	// nodes
	if !raw.nodesField.set || len(raw.nodes) == 0 {
		line := raw.nodesField.line
		if line == 0 {
			line = raw.firstLine
		}
		c.add(line, "no nodes: list at least one under `nodes:` (`- name: fw-a` / `  host: 10.0.1.11`)")
		return inv
	}
	names := map[string]int{}
	addrs := map[string]string{}
	apis := map[string]string{}
	for _, rn := range raw.nodes {
		n, ok := resolveNode(c, rn, raw, inv, e)
		if !ok {
			continue
		}
		if first, dup := names[n.Name]; dup {
			c.add(rn.name.line, "node name %q is used twice (first on line %d): node names must be unique", n.Name, first)
			continue
		}
		names[n.Name] = rn.name.line
		key := n.SSHAddr()
		if len(n.Jump) > 0 {
			key = n.Jump[len(n.Jump)-1].Addr() + " -> " + key
		}
		if other, dup := addrs[key]; dup {
			c.add(rn.host.line, "node %s connects to %s, as node %s does: every node needs its own host and ssh_port", n.Name, n.SSHAddr(), other)
		}
		addrs[key] = n.Name
		if other, dup := apis[n.APIURL]; dup {
			c.add(rn.line, "node %s has the API address %s, as node %s does: set api_host to each node's own management IP", n.Name, n.APIURL, other)
		}
		apis[n.APIURL] = n.Name
		inv.nodes = append(inv.nodes, n)
	}
	return inv
}

func resolveNode(c *collector, rn rawNode, raw *rawInventory, inv *Inventory, e *env) (Node, bool) {
	ok := true
	n := Node{Line: rn.line}
	switch {
	case !rn.name.set || rn.name.v == "":
		c.add(rn.line, "%s has no name: add `name: fw-a` (a short name used in messages, the journal and the lock)", rn.label)
		ok = false
	case !safeNameRE.MatchString(rn.name.v):
		c.add(rn.name.line, "node name %q is not safe in file names: use up to 63 letters, digits, '.', '_' and '-'", rn.name.v)
		ok = false
	default:
		n.Name = rn.name.v
	}
	if !rn.host.set || rn.host.v == "" {
		c.add(rn.line, "%s has no host: add `host: <IP or ssh_config alias>`", rn.label)
		return n, false
	}
	alias := strings.TrimSpace(rn.host.v)
	if msg := checkHost(alias); msg != "" {
		c.add(rn.host.line, "%s: host %q %s", rn.label, alias, msg)
		return n, false
	}
	n.Alias = alias
	sc := e.sshConfig

	// HostName from ssh_config.
	n.Host = alias
	if hn := sc.get(alias, "HostName"); hn != "" {
		hn = e.expandTokens(hn, alias, alias, "", "")
		if msg := checkHost(hn); msg != "" {
			c.add(rn.host.line, "%s: ssh_config %s gives HostName %q for %s, which %s", rn.label, sc.path, hn, alias, msg)
			ok = false
		} else {
			n.Host = hn
		}
	}

	// Port: node, ssh section, ssh_config, default.
	switch {
	case rn.sshPort.set:
		n.SSHPort = rn.sshPort.v
		checkPort(c, rn.sshPort.line, rn.label+": ssh_port", n.SSHPort)
	case raw.ssh.port.set:
		n.SSHPort = inv.SSH.Port
	default:
		n.SSHPort = DefaultSSHPort
		if p := sc.get(alias, "Port"); p != "" {
			v, err := strconv.Atoi(p)
			if err != nil || v < 1 || v > 65535 {
				c.add(rn.host.line, "%s: ssh_config %s gives Port %q for %s, which is not a port (1-65535): fix it there, or set ssh_port on the node", rn.label, sc.path, p, alias)
				ok = false
			} else {
				n.SSHPort = v
			}
		}
	}

	// User: node, ssh section, ssh_config, $USER.
	switch {
	case rn.user.set:
		n.User = rn.user.v
		checkUser(c, rn.user.line, rn.label+": user", n.User)
	case raw.ssh.user.set:
		n.User = inv.SSH.User
	default:
		n.User = inv.SSH.User
		if u := sc.get(alias, "User"); u != "" {
			n.User = e.expandTokens(u, alias, n.Host, "", strconv.Itoa(n.SSHPort))
		}
	}
	if n.User == "" {
		c.add(rn.line, "%s: no SSH user: $USER is not set; set ssh.user (or user: on the node)", rn.label)
		ok = false
	}

	// Identity files: the inventory's, then ssh_config's that exist.
	n.IdentityFiles = append([]string(nil), inv.SSH.IdentityFiles...)
	for _, f := range sc.getAll(alias, "IdentityFile") {
		if strings.EqualFold(f, "none") {
			continue
		}
		p := e.localPath(e.expandTokens(f, alias, n.Host, n.User, strconv.Itoa(n.SSHPort)))
		if st, err := os.Stat(p); err != nil || st.IsDir() || contains(n.IdentityFiles, p) {
			continue // OpenSSH skips a missing IdentityFile too
		}
		n.IdentityFiles = append(n.IdentityFiles, p)
	}
	n.KnownHosts = inv.SSH.KnownHosts
	n.Sudo = inv.SSH.Sudo

	// Jump hosts: node, ssh section, ssh_config ProxyJump.
	spec, specLine, specFrom := "", rn.line, ""
	switch {
	case rn.jumpHost.set:
		spec, specLine, specFrom = rn.jumpHost.v, rn.jumpHost.line, rn.label+": jump_host"
	case raw.ssh.jumpHost.set:
		spec, specLine, specFrom = inv.SSH.JumpHost, raw.ssh.jumpHost.line, "ssh.jump_host"
	default:
		if pj := sc.get(alias, "ProxyJump"); pj != "" {
			spec, specLine, specFrom = pj, rn.host.line, fmt.Sprintf("ssh_config %s ProxyJump for %s", sc.path, alias)
		}
	}
	if spec != "" {
		hops, msg := parseJumpSpec(spec)
		switch {
		case msg != "" && specFrom != "ssh.jump_host": // ssh.jump_host was reported once already
			c.add(specLine, "%s %q: %s", specFrom, spec, msg)
			ok = false
		case msg != "":
			ok = false
		}
		for _, h := range hops {
			j := Jump{User: h.user, Host: h.host, Port: h.port}
			if hn := sc.get(h.host, "HostName"); hn != "" && checkHost(hn) == "" {
				j.Host = e.expandTokens(hn, h.host, h.host, "", "")
			}
			if j.Port == 0 {
				j.Port = DefaultSSHPort
				if p, err := strconv.Atoi(sc.get(h.host, "Port")); err == nil && p > 0 && p < 65536 {
					j.Port = p
				}
			}
			if j.User == "" {
				j.User = sc.get(h.host, "User")
			}
			if j.User == "" {
				j.User = inv.SSH.User
			}
			n.Jump = append(n.Jump, j)
		}
	}

	// API host: must be an IP (facts §1, §12).
	switch {
	case rn.apiHost.set && rn.apiHost.v != "":
		if net.ParseIP(rn.apiHost.v) == nil {
			c.add(rn.apiHost.line, "%s: api_host %q is not an IP address: Neuwerk's API certificates carry IP SANs only, so name the node's management IP", rn.label, rn.apiHost.v)
			ok = false
		}
		n.APIHost = rn.apiHost.v
	case net.ParseIP(n.Host) != nil:
		n.APIHost = n.Host
	default:
		c.add(rn.host.line, "%s: host %q is not an IP address, and the API is reached by IP (Neuwerk's certificates carry IP SANs only): add `api_host: <the node's management IP>` to the node", rn.label, n.Host)
		ok = false
	}
	n.APIURL = (&url.URL{Scheme: "https", Host: net.JoinHostPort(n.APIHost, strconv.Itoa(inv.API.Port))}).String()
	n.MetricsURL = (&url.URL{Scheme: "http", Host: net.JoinHostPort(n.APIHost, strconv.Itoa(inv.API.MetricsPort))}).String()

	// Paths: node over inventory-wide.
	n.Paths = applyPaths(c, inv.Paths, rn.paths, rn.label+": paths")
	checkPathRelations(c, n.Paths, rn.paths, rn.label+": paths", rn.line)
	return n, ok
}

func checkPort(c *collector, line int, name string, p int) {
	if p < 1 || p > 65535 {
		c.add(line, "%s %d is not a TCP port: use 1-65535", name, p)
	}
}

func checkUser(c *collector, line int, name, u string) {
	if !userRE.MatchString(u) {
		c.add(line, "%s %q is not a user name: use letters, digits, '.', '_' and '-'", name, u)
	}
}

// checkHost returns why s is not a usable host, or "".
func checkHost(s string) string {
	if s == "" {
		return "is empty"
	}
	if net.ParseIP(s) != nil {
		return ""
	}
	if h, p, err := net.SplitHostPort(s); err == nil && h != "" && p != "" {
		return fmt.Sprintf("includes a port: write host: %s and put the port in ssh_port", h)
	}
	if strings.Contains(s, "@") {
		return "includes a user: write the user in user: (or ssh.user)"
	}
	if !hostRE.MatchString(s) || len(s) > 253 {
		return "is not a host name or IP address"
	}
	return ""
}

// applyPaths overrides base with the paths set in rp, checking each is absolute.
func applyPaths(c *collector, base Paths, rp rawPaths, prefix string) Paths {
	set := func(dst *string, f field[string], key string) {
		if !f.set || f.v == "" {
			return
		}
		p := f.v
		switch {
		case !path.IsAbs(p):
			c.add(f.line, "%s.%s %q must be an absolute path on the node, e.g. %s", prefix, key, p, map[string]string{
				"binary": DefaultBinary, "data_root": DefaultDataRoot, "backup_dir": DefaultBackupDir}[key])
			return
		case strings.ContainsAny(p, "\x00\n\r"):
			c.add(f.line, "%s.%s contains a control character", prefix, key)
			return
		case path.Clean(p) == "/":
			c.add(f.line, "%s.%s cannot be the root directory /", prefix, key)
			return
		}
		*dst = path.Clean(p)
	}
	set(&base.Binary, rp.binary, "binary")
	set(&base.DataRoot, rp.dataRoot, "data_root")
	set(&base.BackupDir, rp.backupDir, "backup_dir")
	return base
}

// checkPathRelations refuses paths that would make a backup contain itself or
// the data root contain the binary.
func checkPathRelations(c *collector, p Paths, rp rawPaths, prefix string, fallback int) {
	line := func(f field[string]) int {
		if f.set && f.line > 0 {
			return f.line
		}
		return fallback
	}
	if !rp.backupDir.set && !rp.dataRoot.set {
		return // relations of inherited paths were checked where they were set
	}
	if within(p.BackupDir, p.DataRoot) {
		c.add(line(rp.backupDir), "%s: backup_dir %s is inside data_root %s, so every backup would contain the earlier ones: put backups elsewhere (default %s)",
			prefix, p.BackupDir, p.DataRoot, DefaultBackupDir)
	} else if within(p.DataRoot, p.BackupDir) {
		c.add(line(rp.dataRoot), "%s: data_root %s is inside backup_dir %s: keep them apart (defaults %s and %s)",
			prefix, p.DataRoot, p.BackupDir, DefaultDataRoot, DefaultBackupDir)
	}
}

// within reports whether p is dir or below it.
func within(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/")
}

// serviceCmd splits a service command into argv, or returns def when unset.
func serviceCmd(c *collector, f field[string], name string, def []string) []string {
	if !f.set || strings.TrimSpace(f.v) == "" {
		return def
	}
	argv, msg := splitWords(f.v)
	if msg != "" {
		c.add(f.line, "%s %q: %s", name, f.v, msg)
		return def
	}
	return argv
}

// splitWords splits a simple command line into words, as a POSIX shell
// would for plain words and '…', "…" and \ quoting. Shell operators,
// substitutions and redirections are refused: nwroll runs the command
// itself (under `sudo -n` when ssh.sudo is on), without a shell in between.
func splitWords(s string) ([]string, string) {
	const fix = "write one plain command with its arguments (e.g. `systemctl stop neuwerk.service`); for anything more, put a script on the node and name it here"
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == ' ' || ch == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case ch == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, "unterminated ' quote"
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case ch == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				switch {
				case s[i] == '\\' && i+1 < len(s) && strings.IndexByte("\\\"$`", s[i+1]) >= 0:
					i++
					cur.WriteByte(s[i])
				case s[i] == '$' || s[i] == '`':
					return nil, "substitutions ($, `) are not run: " + fix
				default:
					cur.WriteByte(s[i])
				}
			}
			if i >= len(s) {
				return nil, "unterminated \" quote"
			}
			inWord = true
		case ch == '\\':
			if i+1 >= len(s) {
				return nil, "ends with a backslash"
			}
			i++
			cur.WriteByte(s[i])
			inWord = true
		case strings.IndexByte(";&|<>()$`\n\r#", ch) >= 0:
			return nil, fmt.Sprintf("%q is shell syntax, and service commands run without a shell: %s", string(ch), fix)
		default:
			cur.WriteByte(ch)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	if len(words) == 0 {
		return nil, "is empty"
	}
	return words, ""
}

type jumpHop struct {
	user, host string
	port       int
}

// parseJumpSpec parses a ProxyJump-style list: [user@]host[:port] or
// ssh://[user@]host[:port], comma-separated, first hop first; "none" is no jump.
func parseJumpSpec(spec string) ([]jumpHop, string) {
	spec = strings.TrimSpace(spec)
	if spec == "" || spec == "none" {
		return nil, ""
	}
	var hops []jumpHop
	for _, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(part), "ssh://"))
		var h jumpHop
		if i := strings.LastIndexByte(part, '@'); i >= 0 {
			h.user, part = part[:i], part[i+1:]
			if !userRE.MatchString(h.user) {
				return nil, fmt.Sprintf("%q is not a user name; write [user@]host[:port]", h.user)
			}
		}
		host := part
		if hh, p, err := net.SplitHostPort(part); err == nil {
			port, err := strconv.Atoi(p)
			if err != nil || port < 1 || port > 65535 {
				return nil, fmt.Sprintf("port %q is not a TCP port (1-65535)", p)
			}
			host, h.port = hh, port
		} else if strings.HasPrefix(part, "[") && strings.HasSuffix(part, "]") {
			host = part[1 : len(part)-1]
		}
		if msg := checkHost(host); msg != "" {
			return nil, fmt.Sprintf("host %q %s; write [user@]host[:port], several separated by commas", host, msg)
		}
		h.host = host
		hops = append(hops, h)
	}
	return hops, ""
}
