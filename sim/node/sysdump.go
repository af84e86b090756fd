package node

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/nwroll/nwroll/health/sysdump"
)

// sysdumpSource is what a per-node archive is built from. The daemon fills
// it from live state; the CLI from disk.
type sysdumpSource struct {
	root     string // node root; stands for "/" on a real node
	nodeUUID string
	service  serviceStatus
	// raft returns the Raft summary and the replicated policy, or an error.
	// Only called when var/lib/neuwerk/cluster/raft exists.
	raft func() (clusterSummary, *storedPolicy, error)
}

type serviceStatus struct {
	active bool
	pid    int       // 0 when unknown
	since  time.Time // zero when unknown
}

// sysdumpBuilder collects members in Neuwerk's order and the manifest.
type sysdumpBuilder struct {
	src     sysdumpSource
	now     time.Time
	a       *archiveWriter
	entries []sysdump.NodeEntry
}

const dataRootRel = "var/lib/neuwerk"

// buildNodeArchive builds the per-node sysdump (facts §4 "Per-node archive").
func buildNodeArchive(src sysdumpSource, now time.Time) ([]byte, error) {
	now = now.UTC()
	b := &sysdumpBuilder{src: src, now: now, a: newArchiveWriter(now)}
	b.copyDataRoot()
	b.copyEtc()
	b.copyProc()
	b.copySysNet()
	b.commands()
	httpAttempts := b.httpSnapshots()
	b.summaries(httpAttempts)
	b.a.addJSON(sysdump.NodeSummaryManifest, sysdump.NodeManifest{GeneratedAt: rfc3339Micro(now), Entries: b.entries})
	return b.a.finish()
}

func (b *sysdumpBuilder) entry(kind, source, archivePath, status, note string) {
	e := sysdump.NodeEntry{Kind: kind, Source: source, ArchivePath: archivePath, Status: status}
	if note != "" {
		e.Note = &note
	}
	b.entries = append(b.entries, e)
}

func (b *sysdumpBuilder) host(rel string) string {
	return filepath.Join(b.src.root, filepath.FromSlash(rel))
}

// copyDataRoot copies var/lib/neuwerk recursively (children sorted), storing
// cluster/raft as a manifest only and redacting secrets.
func (b *sysdumpBuilder) copyDataRoot() {
	if _, err := os.Lstat(b.host(dataRootRel)); err != nil {
		b.entry("path", "/"+dataRootRel, dataRootRel, "missing", "")
		return
	}
	b.copyTree(dataRootRel, true)
}

// copyTree copies the file or directory rel (node-root relative).
func (b *sysdumpBuilder) copyTree(rel string, dataRoot bool) {
	hostPath := b.host(rel)
	info, err := os.Lstat(hostPath)
	if err != nil {
		b.entry("path", "/"+rel, rel, "missing", "")
		return
	}
	switch {
	case dataRoot && rel == dataRootRel+"/cluster/raft":
		b.raftManifest(rel)
	case info.Mode()&os.ModeSymlink != 0:
		target, err := os.Readlink(hostPath)
		if err != nil {
			b.entry("path", "/"+rel, rel, "error", err.Error())
			return
		}
		b.a.add(rel+".symlink.txt", []byte("symlink -> "+target+"\n"), 0o600)
		b.entry("path", "/"+rel, rel+".symlink.txt", "symlink", "")
	case info.IsDir():
		children, err := os.ReadDir(hostPath)
		if err != nil {
			b.entry("path", "/"+rel, rel, "error", err.Error())
			return
		}
		for _, c := range children { // ReadDir sorts by name
			b.copyTree(rel+"/"+c.Name(), dataRoot)
		}
	case info.Mode().IsRegular():
		data, err := os.ReadFile(hostPath)
		if err != nil {
			b.entry("path", "/"+rel, rel, "error", err.Error())
			return
		}
		note := ""
		if red, ok := redact(info.Name(), data); ok {
			data, note = red, "redacted"
		}
		b.a.add(rel, data, 0o600)
		b.entry("path", "/"+rel, rel, "ok", note)
	}
}

// redact replaces secrets: the bootstrap token, *.key files and the
// private_key values of api-auth.json.
func redact(name string, data []byte) ([]byte, bool) {
	switch {
	case name == "bootstrap-token":
		return []byte("redacted bootstrap token\n"), true
	case strings.HasSuffix(name, ".key"):
		return []byte("redacted secret file: " + name + "\n"), true
	case name == "api-auth.json":
		var v any
		if json.Unmarshal(data, &v) != nil {
			return []byte("redacted secret file: " + name + "\n"), true
		}
		out, err := jsonIndent(redactPrivateKeys(v))
		if err != nil {
			return []byte("redacted secret file: " + name + "\n"), true
		}
		return out, true
	}
	return nil, false
}

func redactPrivateKeys(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, val := range t {
			if k == "private_key" {
				t[k] = "<redacted>"
			} else {
				t[k] = redactPrivateKeys(val)
			}
		}
	case []any:
		for i := range t {
			t[i] = redactPrivateKeys(t[i])
		}
	}
	return v
}

type raftManifestEntry struct {
	Path string `json:"path"`
	Kind string `json:"kind"` // file | dir | symlink
	Size int64  `json:"size"`
}

func (b *sysdumpBuilder) raftManifest(rel string) {
	var list []raftManifestEntry
	root := b.host(rel)
	filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err != nil || p == root {
			return nil
		}
		r, _ := filepath.Rel(b.src.root, p)
		e := raftManifestEntry{Path: "/" + filepath.ToSlash(r), Kind: "file", Size: info.Size()}
		switch {
		case info.Mode()&os.ModeSymlink != 0:
			e.Kind = "symlink"
		case info.IsDir():
			e.Kind, e.Size = "dir", 0
		}
		list = append(list, e)
		return nil
	})
	if list == nil {
		list = []raftManifestEntry{}
	}
	b.a.addJSON(rel+".manifest.json", list)
	b.entry("path", "/"+rel, rel+".manifest.json", "manifest-only", fmt.Sprintf("%d entries", len(list)))
}

func (b *sysdumpBuilder) copyEtc() {
	for _, rel := range []string{
		"etc/hostname", "etc/hosts", "etc/resolv.conf", "etc/os-release", "etc/machine-id",
		"etc/systemd/system/neuwerk.service", "etc/systemd/system/neuwerk.service.d",
		"etc/default/neuwerk", "lib/systemd/system/neuwerk.service", "usr/lib/systemd/system/neuwerk.service",
	} {
		b.copyTree(rel, false)
	}
}

// copyProc copies the host's /proc files where readable. The hostname is
// the node's own (etc/hostname), as a real node would report it.
func (b *sysdumpBuilder) copyProc() {
	for _, rel := range []string{
		"proc/cmdline", "proc/cpuinfo", "proc/meminfo", "proc/mounts", "proc/uptime", "proc/version",
		"proc/net/dev", "proc/net/route", "proc/pressure/cpu", "proc/pressure/io", "proc/pressure/memory",
		"proc/sys/kernel/hostname",
	} {
		var data []byte
		var err error
		if rel == "proc/sys/kernel/hostname" {
			data, err = os.ReadFile(b.host("etc/hostname"))
		}
		if data == nil {
			data, err = readLimited("/"+rel, 1<<20)
		}
		if err != nil {
			b.entry("path", "/"+rel, rel, "missing", "")
			continue
		}
		b.a.add(rel, data, 0o600)
		b.entry("path", "/"+rel, rel, "ok", "")
	}
}

func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, limit))
}

func (b *sysdumpBuilder) copySysNet() {
	ifaces, err := os.ReadDir("/sys/class/net")
	if err != nil {
		b.entry("path", "/sys/class/net", "sys/class/net", "missing", "")
		return
	}
	for _, i := range ifaces {
		target, err := os.Readlink("/sys/class/net/" + i.Name())
		if err != nil {
			continue
		}
		rel := "sys/class/net/" + i.Name()
		b.a.add(rel+".symlink.txt", []byte("symlink -> "+target+"\n"), 0o600)
		b.entry("path", "/"+rel, rel+".symlink.txt", "symlink", "")
	}
}

// commandOutput renders a command capture in Neuwerk's format.
func commandOutput(cmd string, exit int, stdout, stderr string) []byte {
	if stdout != "" && !strings.HasSuffix(stdout, "\n") {
		stdout += "\n"
	}
	return []byte(fmt.Sprintf("$ %s\nexit_status: %d\n--- stdout ---\n%s--- stderr ---\n%s", cmd, exit, stdout, stderr))
}

// commands synthesises the service manager and ip(8) captures for this node
// (the simulator has no systemd or network namespace of its own).
func (b *sysdumpBuilder) commands() {
	ip := b.nodeIP()
	status, statusExit := b.systemctlStatus()
	cmds := []struct {
		path, cmd string
		exit      int
		out       string
	}{
		{"system/commands/systemctl-status-neuwerk.txt", "systemctl status neuwerk.service --no-pager", statusExit, status},
		{"system/commands/systemctl-show-neuwerk.txt", "systemctl show neuwerk.service --no-pager", 0, b.systemctlShow()},
		{"system/journal/neuwerk-service.log", "journalctl -u neuwerk.service --no-pager -n 2000", 0, b.journal(2000)},
		{"system/commands/ip-addr.txt", "ip addr", 0, ipAddr(ip)},
		{"system/commands/ip-link.txt", "ip link", 0, ipLink()},
		{"system/commands/ip-route.txt", "ip route show table all", 0, ipRoute(ip)},
		{"system/commands/ip-rule.txt", "ip rule", 0, "0:\tfrom all lookup local\n32766:\tfrom all lookup main\n32767:\tfrom all lookup default\n"},
	}
	for _, c := range cmds {
		b.a.add(c.path, commandOutput(c.cmd, c.exit, c.out, ""), 0o644)
		b.entry("command", c.cmd, c.path, "ok", "")
	}
}

func (b *sysdumpBuilder) nodeIP() string {
	cfg, err := LoadConfig(b.host("etc/neuwerk/config.yaml"))
	if err != nil {
		return "192.0.2.10"
	}
	host, _, _ := net.SplitHostPort(cfg.HTTP.Bind)
	return host
}

func (b *sysdumpBuilder) systemctlStatus() (string, int) {
	s := b.src.service
	var out strings.Builder
	out.WriteString("● neuwerk.service - Neuwerk egress firewall\n")
	out.WriteString("     Loaded: loaded (/etc/systemd/system/neuwerk.service; enabled; preset: enabled)\n")
	if !s.active {
		out.WriteString("     Active: inactive (dead)\n")
		return out.String(), 3
	}
	if s.since.IsZero() {
		out.WriteString("     Active: active (running)\n")
	} else {
		fmt.Fprintf(&out, "     Active: active (running) since %s; %s ago\n",
			s.since.UTC().Format("Mon 2006-01-02 15:04:05 MST"), b.now.Sub(s.since).Round(time.Second))
	}
	if s.pid > 0 {
		fmt.Fprintf(&out, "   Main PID: %d (neuwerk)\n", s.pid)
	}
	out.WriteString("     CGroup: /system.slice/neuwerk.service\n")
	if s.pid > 0 {
		fmt.Fprintf(&out, "             └─%d /opt/neuwerk/bin/neuwerk\n", s.pid)
	}
	return out.String(), 0
}

func (b *sysdumpBuilder) systemctlShow() string {
	s := b.src.service
	state, sub := "inactive", "dead"
	if s.active {
		state, sub = "active", "running"
	}
	return fmt.Sprintf("Id=neuwerk.service\nLoadState=loaded\nActiveState=%s\nSubState=%s\nMainPID=%d\n"+
		"Type=simple\nRestart=on-failure\nRestartUSec=5s\nFragmentPath=/etc/systemd/system/neuwerk.service\n"+
		"UnitFileState=enabled\nExecStart={ path=/opt/neuwerk/bin/neuwerk ; argv[]=/opt/neuwerk/bin/neuwerk }\n",
		state, sub, s.pid)
}

// journal returns the last n lines of the service log.
func (b *sysdumpBuilder) journal(n int) string {
	data, err := os.ReadFile(b.host("var/log/neuwerk.log"))
	if err != nil || len(data) == 0 {
		return "-- No entries --\n"
	}
	lines := strings.SplitAfter(string(data), "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "")
}

func ipAddr(ip string) string {
	return "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN group default qlen 1000\n" +
		"    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00\n" +
		"    inet 127.0.0.1/8 scope host lo\n       valid_lft forever preferred_lft forever\n" +
		"2: ens5: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 9001 qdisc mq state UP group default qlen 1000\n" +
		"    link/ether 02:4e:57:00:00:01 brd ff:ff:ff:ff:ff:ff\n" +
		"    inet " + ip + "/24 metric 100 brd + scope global dynamic ens5\n       valid_lft 3600sec preferred_lft 3600sec\n"
}

func ipLink() string {
	return "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000\n" +
		"    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00\n" +
		"2: ens5: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 9001 qdisc mq state UP mode DEFAULT group default qlen 1000\n" +
		"    link/ether 02:4e:57:00:00:01 brd ff:ff:ff:ff:ff:ff\n"
}

func ipRoute(ip string) string {
	net24 := ip
	if p := net.ParseIP(ip).To4(); p != nil {
		net24 = fmt.Sprintf("%d.%d.%d.0", p[0], p[1], p[2])
	}
	return "default via " + strings.TrimSuffix(net24, "0") + "1 dev ens5 proto dhcp src " + ip + " metric 100\n" +
		net24 + "/24 dev ens5 proto kernel scope link src " + ip + " metric 100\n" +
		"local " + ip + " dev ens5 table local proto kernel scope host src " + ip + "\n" +
		"local 127.0.0.1 dev lo table local proto kernel scope host src 127.0.0.1\n"
}

type httpAttempt struct {
	Name        string  `json:"name"`
	URL         string  `json:"url"`
	ArchivePath string  `json:"archive_path"`
	Success     bool    `json:"success"`
	Status      *int    `json:"status"`
	Note        *string `json:"note"`
}

// httpSnapshots records Neuwerk's loopback HTTP captures. Its listeners bind
// the management IP, not loopback, so on a node these fail; the simulator
// reports the failure rather than reaching whatever else listens on the
// host's 127.0.0.1.
func (b *sysdumpBuilder) httpSnapshots() []httpAttempt {
	targets := []struct{ name, url, path string }{
		{"metrics-127.0.0.1-8080", "http://127.0.0.1:8080/metrics", "system/http/metrics-127.0.0.1-8080.prom"},
		{"metrics-ipv6-localhost-8080", "http://[::1]:8080/metrics", "system/http/metrics-ipv6-localhost-8080.prom"},
		{"health-127.0.0.1-8443", "https://127.0.0.1:8443/health", "system/http/health-127.0.0.1-8443.txt"},
		{"health-localhost-8443", "https://localhost:8443/health", "system/http/health-localhost-8443.txt"},
	}
	var out []httpAttempt
	for _, t := range targets {
		note := "request failed: " + sendError(t.url)
		b.a.add(t.path, []byte(note+"\n"), 0o644)
		b.entry("http", t.url, t.path, "request-failed", note)
		out = append(out, httpAttempt{Name: t.name, URL: t.url, ArchivePath: t.path, Note: &note})
	}
	return out
}

type policySummary struct {
	Present          bool   `json:"present"`
	DefaultPolicy    string `json:"default_policy"`
	SourceGroupCount int    `json:"source_group_count"`
}

func summarizePolicy(p *storedPolicy) *policySummary {
	if p == nil {
		return nil
	}
	return &policySummary{Present: true, DefaultPolicy: p.DefaultPolicy, SourceGroupCount: len(p.SourceGroups)}
}

// summaries writes summary/*.json; summary/manifest.json comes after.
func (b *sysdumpBuilder) summaries(attempts []httpAttempt) {
	var localPolicy *storedPolicy
	if data, err := os.ReadFile(b.host(dataRootRel + "/local-policy-store/policy.json")); err == nil {
		if p, err := parsePolicy(data); err == nil {
			localPolicy = &p
		}
	}
	raftDir := b.host(dataRootRel + "/cluster/raft")
	_, statErr := os.Stat(raftDir)
	clusterPresent := statErr == nil

	var cluster clusterSummary
	var clusterPolicy *storedPolicy
	var clusterErr error
	if clusterPresent && b.src.raft != nil {
		cluster, clusterPolicy, clusterErr = b.src.raft()
	}

	state := sysdump.NodeStateSummary{GeneratedAt: rfc3339Micro(b.now), ModeGuess: "local", ClusterPresent: clusterPresent}
	if clusterPresent {
		state.ModeGuess = "cluster"
	}
	if b.src.nodeUUID != "" {
		id := b.src.nodeUUID
		state.NodeID = &id
	}
	if localPolicy != nil {
		state.LocalPolicyCount = 1
	}
	if clusterPolicy != nil {
		state.ClusterPolicyCount = 1
	}
	for _, a := range attempts {
		if a.Success {
			state.MetricsSuccessCount++
		}
	}
	b.summary("summary/state.json", state)
	b.summary("summary/service-accounts.json", map[string]any{
		"local":   map[string]int{"service_account_count": 0, "token_count": 0},
		"cluster": map[string]int{"service_account_count": 0, "token_count": 0},
	})
	b.summary("summary/integrations.json", map[string]any{"local": []any{}, "cluster": []any{}})
	b.summary("summary/configuration.json", b.configurationSummary())
	b.summary("summary/policies.json", map[string]*policySummary{
		"local": summarizePolicy(localPolicy), "cluster": summarizePolicy(clusterPolicy),
	})
	b.summary("summary/audit.json", map[string]uint64{"finding_count": 0})
	b.summary("summary/metrics.json", map[string][]httpAttempt{"attempts": attempts})
	switch {
	case !clusterPresent:
	case clusterErr != nil:
		b.entry("summary", "cluster", "summary/cluster.json", "error", clusterErr.Error())
	default:
		b.summary("summary/cluster.json", cluster)
	}
}

func (b *sysdumpBuilder) summary(path string, v any) {
	b.a.addJSON(path, v)
	b.entry("summary", strings.TrimSuffix(strings.TrimPrefix(path, "summary/"), ".json"), path, "ok", "")
}

// configurationSummary reports CA presence and API key ids (no secrets).
func (b *sysdumpBuilder) configurationSummary() map[string]any {
	exists := func(rel string) bool {
		_, err := os.Stat(b.host(dataRootRel + "/" + rel))
		return err == nil
	}
	var kids []string
	active := ""
	if keys, err := LoadAPIKeyset(b.host(dataRootRel + "/http-tls/api-auth.json")); err == nil {
		for _, k := range keys.Keys {
			kids = append(kids, k.KID)
		}
		sort.Strings(kids)
		active = keys.ActiveKID
	}
	if kids == nil {
		kids = []string{}
	}
	return map[string]any{
		"http_ca_cert_present":    exists("http-tls/ca.crt"),
		"http_ca_key_present":     exists("http-tls/ca.key"),
		"cluster_ca_cert_present": exists("cluster/tls/ca.crt"),
		"api_key_ids":             kids,
		"active_api_key_id":       active,
	}
}

func rfc3339Micro(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000000Z")
}

// sysdumpFileStamp is the YYYYMMDDTHHMMSSZ stamp in archive file names.
func sysdumpFileStamp(t time.Time) string { return t.UTC().Format("20060102T150405Z") }

// writeSysdumpFile writes an archive 0600.
func writeSysdumpFile(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
