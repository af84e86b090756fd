package inventory

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// fixture is a home directory and an inventory directory with a known_hosts
// file and an identity file, so tests never read the real ~/.ssh.
type fixture struct {
	home, dir, knownHosts, idFile string
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	root := t.TempDir()
	f := fixture{home: filepath.Join(root, "home"), dir: filepath.Join(root, "inv")}
	for _, d := range []string{filepath.Join(f.home, ".ssh"), f.dir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	f.knownHosts = filepath.Join(f.dir, "known_hosts")
	f.idFile = filepath.Join(f.dir, "id_test")
	for _, p := range []string{f.knownHosts, f.idFile, filepath.Join(f.home, ".ssh", "known_hosts")} {
		if err := os.WriteFile(p, []byte("# test\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("HOME", f.home)
	t.Setenv("USER", "alice")
	t.Setenv(EnvSSHConfig, "")
	return f
}

// load writes text to DIR/inventory.yaml and loads it with the given ssh_config ("" = none).
func (f fixture) load(t *testing.T, text, sshConfig string) (*Inventory, string, error) {
	t.Helper()
	p := filepath.Join(f.dir, "inventory.yaml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	opts := Options{SSHConfig: "none"}
	if sshConfig != "" {
		cp := filepath.Join(f.dir, "ssh_config")
		if err := os.WriteFile(cp, []byte(sshConfig), 0o644); err != nil {
			t.Fatal(err)
		}
		opts.SSHConfig = cp
	}
	inv, err := LoadWith(p, opts)
	return inv, p, err
}

func mustLoad(t *testing.T, f fixture, text, sshConfig string) *Inventory {
	t.Helper()
	inv, _, err := f.load(t, text, sshConfig)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return inv
}

const minimal = `cluster: prod-eu1
nodes:
  - name: fw-a
    host: 10.0.1.11
  - name: fw-b
    host: 10.0.1.12
`

func TestDefaults(t *testing.T) {
	f := newFixture(t)
	inv := mustLoad(t, f, minimal, "")
	if inv.Cluster != "prod-eu1" {
		t.Errorf("cluster = %q", inv.Cluster)
	}
	wantSSH := SSHSettings{User: "alice", Port: 22, KnownHosts: filepath.Join(f.home, ".ssh", "known_hosts"), Sudo: true}
	if !reflect.DeepEqual(inv.SSH, wantSSH) {
		t.Errorf("ssh = %+v, want %+v", inv.SSH, wantSSH)
	}
	if want := (API{Port: 8443, MetricsPort: 8080, TokenEnv: "NEUWERK_TOKEN"}); inv.API != want {
		t.Errorf("api = %+v, want %+v", inv.API, want)
	}
	wantPaths := Paths{Binary: "/opt/neuwerk/bin/neuwerk", DataRoot: "/var/lib/neuwerk", BackupDir: "/var/backups/neuwerk"}
	if inv.Paths != wantPaths {
		t.Errorf("paths = %+v", inv.Paths)
	}
	wantSvc := Service{Unit: "neuwerk.service",
		Stop:     []string{"systemctl", "stop", "neuwerk.service"},
		Start:    []string{"systemctl", "start", "neuwerk.service"},
		IsActive: []string{"systemctl", "is-active", "neuwerk.service"}}
	if !reflect.DeepEqual(inv.Service, wantSvc) {
		t.Errorf("service = %+v", inv.Service)
	}
	if inv.Gates != (Gates{Timeout: 5 * time.Minute, Stabilisation: 15 * time.Second}) {
		t.Errorf("gates = %+v", inv.Gates)
	}
	if inv.SSHConfig != "" {
		t.Errorf("SSHConfig = %q with ssh_config disabled", inv.SSHConfig)
	}
	nodes := inv.Nodes()
	if len(nodes) != 2 {
		t.Fatalf("%d nodes", len(nodes))
	}
	want := Node{Name: "fw-b", Alias: "10.0.1.12", Host: "10.0.1.12", SSHPort: 22, User: "alice",
		APIHost: "10.0.1.12", APIURL: "https://10.0.1.12:8443", MetricsURL: "http://10.0.1.12:8080",
		Paths: wantPaths, KnownHosts: wantSSH.KnownHosts, Sudo: true, Line: 5,
		IdentityFiles: []string{}, Jump: []Jump{}}
	got := nodes[1]
	if got.IdentityFiles == nil {
		got.IdentityFiles = []string{}
	}
	if got.Jump == nil {
		got.Jump = []Jump{}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("node fw-b =\n %+v\nwant\n %+v", got, want)
	}
	if got.SSHAddr() != "10.0.1.12:22" || got.Target() != "alice@10.0.1.12:22" {
		t.Errorf("SSHAddr %q Target %q", got.SSHAddr(), got.Target())
	}
	if n, ok := inv.Node("fw-a"); !ok || n.Host != "10.0.1.11" {
		t.Errorf("Node(fw-a) = %+v, %v", n, ok)
	}
	if _, ok := inv.Node("fw-z"); ok {
		t.Error("Node(fw-z) found")
	}
	// Nodes returns copies.
	nodes[0].Name = "changed"
	if inv.Nodes()[0].Name != "fw-a" {
		t.Error("Nodes() exposes the inventory's own slice")
	}
}

func TestDefaultUserWithoutUSER(t *testing.T) {
	f := newFixture(t)
	t.Setenv("USER", "")
	inv := mustLoad(t, f, minimal, "")
	if inv.SSH.User == "" {
		t.Fatal("no user when $USER is unset; want the current user's name")
	}
}

func TestFullInventoryAndOverrides(t *testing.T) {
	f := newFixture(t)
	ca := filepath.Join(f.dir, "ca.crt")
	if err := os.WriteFile(ca, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	text := `# a full inventory
cluster: lab_2.x
ssh:
  user: ubuntu
  port: 2200
  identity_files: [~/../inv/id_test, ./id_test]
  known_hosts: ` + f.knownHosts + `
  jump_host: ops@bastion.example:2022
  sudo: false
api:
  port: 9443
  metrics_port: 9080
  ca_file: ca.crt
  token_env: MY_TOKEN
paths:
  binary: /usr/local/bin/neuwerk
  data_root: /srv/neuwerk/
  backup_dir: /srv/backups
service:
  unit: neuwerk@a.service
  stop: /usr/bin/systemctl stop 'neuwerk@a.service'
  start: systemctl "start" neuwerk@a.service
gates:
  timeout: 2m30s
  stabilisation: 5s
nodes:
  - name: fw-a
    host: 10.0.1.11
  - name: fw-b
    host: 10.0.1.12
    ssh_port: 22
    user: admin
    api_host: 192.168.7.12
    jump_host: none
    paths:
      binary: /opt/other/neuwerk
  - name: fw-c
    host: fd00::13
    jump_host: a@j1:2201,j2
`
	inv := mustLoad(t, f, text, "")
	if inv.SSH.Sudo || inv.SSH.User != "ubuntu" || inv.SSH.Port != 2200 || inv.SSH.JumpHost != "ops@bastion.example:2022" {
		t.Errorf("ssh = %+v", inv.SSH)
	}
	if !reflect.DeepEqual(inv.SSH.IdentityFiles, []string{f.idFile, f.idFile}) {
		t.Errorf("identity files = %v, want ~ and ./ expanded", inv.SSH.IdentityFiles)
	}
	if inv.API != (API{Port: 9443, MetricsPort: 9080, CAFile: ca, TokenEnv: "MY_TOKEN"}) {
		t.Errorf("api = %+v", inv.API)
	}
	if inv.Paths != (Paths{Binary: "/usr/local/bin/neuwerk", DataRoot: "/srv/neuwerk", BackupDir: "/srv/backups"}) {
		t.Errorf("paths = %+v", inv.Paths)
	}
	if !reflect.DeepEqual(inv.Service.Stop, []string{"/usr/bin/systemctl", "stop", "neuwerk@a.service"}) ||
		!reflect.DeepEqual(inv.Service.Start, []string{"systemctl", "start", "neuwerk@a.service"}) ||
		!reflect.DeepEqual(inv.Service.IsActive, []string{"systemctl", "is-active", "neuwerk@a.service"}) {
		t.Errorf("service = %+v (is_active defaults to the configured unit)", inv.Service)
	}
	if inv.Gates != (Gates{Timeout: 150 * time.Second, Stabilisation: 5 * time.Second}) {
		t.Errorf("gates = %+v", inv.Gates)
	}
	a, _ := inv.Node("fw-a")
	if a.User != "ubuntu" || a.SSHPort != 2200 || a.Sudo || a.APIURL != "https://10.0.1.11:9443" || a.MetricsURL != "http://10.0.1.11:9080" {
		t.Errorf("fw-a = %+v", a)
	}
	if !reflect.DeepEqual(a.Jump, []Jump{{User: "ops", Host: "bastion.example", Port: 2022}}) {
		t.Errorf("fw-a jump = %+v", a.Jump)
	}
	b, _ := inv.Node("fw-b")
	if b.User != "admin" || b.SSHPort != 22 || b.APIHost != "192.168.7.12" || b.APIURL != "https://192.168.7.12:9443" || len(b.Jump) != 0 {
		t.Errorf("fw-b = %+v", b)
	}
	if b.Paths != (Paths{Binary: "/opt/other/neuwerk", DataRoot: "/srv/neuwerk", BackupDir: "/srv/backups"}) {
		t.Errorf("fw-b paths = %+v", b.Paths)
	}
	c, _ := inv.Node("fw-c")
	if c.APIURL != "https://[fd00::13]:9443" || c.SSHAddr() != "[fd00::13]:2200" {
		t.Errorf("fw-c = %+v", c)
	}
	wantJ := []Jump{{User: "a", Host: "j1", Port: 2201}, {User: "ubuntu", Host: "j2", Port: 22}}
	if !reflect.DeepEqual(c.Jump, wantJ) {
		t.Errorf("fw-c jump = %+v, want %+v", c.Jump, wantJ)
	}
	if c.Jump[0].String() != "a@j1:2201" {
		t.Errorf("Jump.String = %q", c.Jump[0].String())
	}
}

// Every validation error names the file, the line and the fix.
func TestValidationErrors(t *testing.T) {
	f := newFixture(t)
	node := func(extra string) string {
		return "cluster: c1\nnodes:\n  - name: fw-a\n    host: 10.0.1.11\n" + extra
	}
	cases := []struct {
		name string
		text string
		line int
		want []string // substrings of the message
	}{
		{"unknown node key with suggestion", node("  - name: fw-b\n    hots: 10.0.1.12\n"), 6,
			[]string{`unknown key "hots" in node fw-b (did you mean "host"?)`}},
		{"unknown top-level key", "cluster: c1\nnode:\n  - name: a\n", 2,
			[]string{`unknown key "node" at the top level (did you mean "nodes"?)`}},
		{"unknown ssh key", "cluster: c1\nssh:\n  identity_file: [x]\nnodes:\n  - {name: a, host: 10.0.0.1}\n", 3,
			[]string{`unknown key "identity_file" in ssh (did you mean "identity_files"?)`}},
		{"unknown gate key", node("gates:\n  stabilization: 5s\n"), 6,
			[]string{`unknown key "stabilization" in gates (did you mean "stabilisation"?)`}},
		{"unknown path key", node("    paths:\n      bin: /x\n"), 6,
			[]string{`unknown key "bin" in node fw-a paths (did you mean "binary"?)`}},
		{"duplicate key", "cluster: c1\ncluster: c2\nnodes: [{name: a, host: 10.0.0.1}]\n", 2,
			[]string{`key "cluster" appears twice at the top level (first on line 1)`}},
		{"missing cluster", "nodes:\n  - name: a\n    host: 10.0.0.1\n", 1,
			[]string{"`cluster:` is missing", "cluster: prod-eu1"}},
		{"unsafe cluster name", "cluster: ../etc\nnodes: [{name: a, host: 10.0.0.1}]\n", 1,
			[]string{`cluster "../etc" is not a safe directory name`, "letters, digits"}},
		{"cluster with slash", "cluster: prod/eu\nnodes: [{name: a, host: 10.0.0.1}]\n", 1,
			[]string{"not a safe directory name"}},
		{"no nodes", "cluster: c1\nnodes: []\n", 2, []string{"no nodes", "- name: fw-a"}},
		{"nodes key absent", "cluster: c1\n", 1, []string{"no nodes"}},
		{"nodes not a list", "cluster: c1\nnodes: fw-a\n", 2, []string{"nodes must be a list"}},
		{"node without name", "cluster: c1\nnodes:\n  - host: 10.0.0.1\n", 3, []string{"node #1 has no name", "name: fw-a"}},
		{"node without host", "cluster: c1\nnodes:\n  - name: a\n", 3, []string{"node a has no host", "host:"}},
		{"duplicate node name", node("  - name: fw-a\n    host: 10.0.1.12\n"), 5,
			[]string{`node name "fw-a" is used twice (first on line 3)`}},
		{"duplicate host and port", node("  - name: fw-b\n    host: 10.0.1.11\n"), 6,
			[]string{"node fw-b connects to 10.0.1.11:22, as node fw-a does", "own host and ssh_port"}},
		{"same host, other port is fine but same api", node("  - name: fw-b\n    host: 10.0.1.11\n    ssh_port: 2222\n"), 5,
			[]string{"API address https://10.0.1.11:8443, as node fw-a does", "api_host"}},
		{"port out of range", node("    ssh_port: 0\n"), 5, []string{"ssh_port 0 is not a TCP port: use 1-65535"}},
		{"port too big", "cluster: c1\nssh:\n  port: 65536\nnodes: [{name: a, host: 10.0.0.1}]\n", 3, []string{"ssh.port 65536 is not a TCP port"}},
		{"port not a number", "cluster: c1\napi:\n  port: https\nnodes: [{name: a, host: 10.0.0.1}]\n", 3, []string{"api.port must be a whole number"}},
		{"metrics port equals api port", "cluster: c1\napi:\n  port: 8443\n  metrics_port: 8443\nnodes: [{name: a, host: 10.0.0.1}]\n", 4,
			[]string{"api.metrics_port is the same as api.port"}},
		{"bad duration", node("gates:\n  timeout: 5 minutes\n"), 6, []string{`gates.timeout: "5 minutes" is not a duration`, "5m, 90s"}},
		{"duration without unit", node("gates:\n  stabilisation: 15\n"), 6, []string{"15 has no unit; write it as 15s"}},
		{"negative timeout", node("gates:\n  timeout: -1s\n"), 6, []string{"gates.timeout must be positive"}},
		{"timeout shorter than stabilisation", node("gates:\n  timeout: 10s\n  stabilisation: 20s\n"), 6,
			[]string{"gates.timeout (10s) must be longer than gates.stabilisation (20s)", "raise the timeout"}},
		{"relative path", node("paths:\n  binary: opt/neuwerk/bin/neuwerk\n"), 6,
			[]string{`paths.binary "opt/neuwerk/bin/neuwerk" must be an absolute path on the node, e.g. /opt/neuwerk/bin/neuwerk`}},
		{"relative node path", node("    paths:\n      data_root: var/lib\n"), 6,
			[]string{`node fw-a: paths.data_root "var/lib" must be an absolute path`}},
		{"root path", node("paths:\n  data_root: /\n"), 6, []string{"paths.data_root cannot be the root directory"}},
		{"backup inside data root", node("paths:\n  backup_dir: /var/lib/neuwerk/backups\n"), 6,
			[]string{"backup_dir /var/lib/neuwerk/backups is inside data_root /var/lib/neuwerk", "default /var/backups/neuwerk"}},
		{"api host is a name", node("  - name: fw-b\n    host: 10.0.1.12\n    api_host: fw-b.example\n"), 7,
			[]string{`api_host "fw-b.example" is not an IP address`, "IP SANs only"}},
		{"host is a name without api_host", "cluster: c1\nnodes:\n  - name: a\n    host: fw-a.example\n", 4,
			[]string{`host "fw-a.example" is not an IP address`, "IP SANs only", "api_host: <the node's management IP>"}},
		{"host with port", "cluster: c1\nnodes:\n  - name: a\n    host: 10.0.0.1:2222\n", 4,
			[]string{"includes a port: write host: 10.0.0.1 and put the port in ssh_port"}},
		{"host with user", "cluster: c1\nnodes:\n  - name: a\n    host: root@10.0.0.1\n", 4, []string{"includes a user"}},
		{"sudo not bool", "cluster: c1\nssh:\n  sudo: yes\nnodes: [{name: a, host: 10.0.0.1}]\n", 3,
			[]string{`ssh.sudo must be true or false, got the value "yes"`}},
		{"sudo a list", "cluster: c1\nssh:\n  sudo: [true]\nnodes: [{name: a, host: 10.0.0.1}]\n", 3, []string{"ssh.sudo must be true or false, got a list"}},
		{"known_hosts missing", "cluster: c1\nssh:\n  known_hosts: /nonexistent/kh\nnodes:\n  - {name: a, host: 10.0.0.1}\n  - {name: b, host: 10.0.0.2, ssh_port: 2222}\n", 3,
			[]string{"known_hosts file /nonexistent/kh does not exist", "never trusts a key on first use",
				"ssh-keyscan -p 22 10.0.0.1 >> /nonexistent/kh", "ssh-keyscan -p 2222 10.0.0.2 >> /nonexistent/kh", "fingerprint out of band"}},
		{"identity file missing", "cluster: c1\nssh:\n  identity_files:\n    - ~/.ssh/id_nope\nnodes: [{name: a, host: 10.0.0.1}]\n", 4,
			[]string{"identity file " + filepath.Join(f.home, ".ssh", "id_nope") + " does not exist", "SSH_AUTH_SOCK"}},
		{"ca file missing", "cluster: c1\napi:\n  ca_file: /nope/ca.crt\nnodes: [{name: a, host: 10.0.0.1}]\n", 3,
			[]string{"api.ca_file /nope/ca.crt does not exist", "leave ca_file empty"}},
		{"token env bad", "cluster: c1\napi:\n  token_env: MY-TOKEN\nnodes: [{name: a, host: 10.0.0.1}]\n", 3,
			[]string{`api.token_env "MY-TOKEN" is not an environment variable name`}},
		{"service command with shell syntax", node("service:\n  stop: systemctl stop neuwerk.service; rm -rf /\n"), 6,
			[]string{`";" is shell syntax`, "put a script on the node"}},
		{"service command with substitution", node("service:\n  start: \"systemctl start $(unit)\"\n"), 6, []string{`"$" is shell syntax`}},
		{"service unit bad", node("service:\n  unit: neuwerk service\n"), 6, []string{`service.unit "neuwerk service" is not a systemd unit name`}},
		{"jump host bad port", "cluster: c1\nssh:\n  jump_host: bastion:99999\nnodes: [{name: a, host: 10.0.0.1}]\n", 3,
			[]string{`ssh.jump_host "bastion:99999": port "99999" is not a TCP port`}},
		{"node jump host bad", node("    jump_host: 'a b'\n"), 5, []string{`node fw-a: jump_host "a b": host "a b" is not a host name`}},
		{"bad user", "cluster: c1\nssh:\n  user: 'bob smith'\nnodes: [{name: a, host: 10.0.0.1}]\n", 3, []string{`ssh.user "bob smith" is not a user name`}},
		{"syntax error", "cluster: c1\nnodes:\n  - name: a\n   host: 10.0.0.1\n", 2, []string{"YAML syntax error"}},
		{"tab indentation", "cluster: c1\nnodes:\n\t- name: a\n", 3, []string{"YAML syntax error"}},
		{"not a mapping", "- a\n- b\n", 1, []string{"must be a mapping with `cluster:` and `nodes:`"}},
		{"ssh is a list", "cluster: c1\nssh: [a]\nnodes: [{name: a, host: 10.0.0.1}]\n", 2, []string{"expected a mapping of keys in ssh, got a list"}},
		{"node name unsafe", "cluster: c1\nnodes:\n  - name: fw/a\n    host: 10.0.0.1\n", 3, []string{`node name "fw/a" is not safe in file names`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, path, err := f.load(t, tc.text, "")
			if err == nil {
				t.Fatalf("loaded; want an error on line %d", tc.line)
			}
			var ie *Error
			if !errors.As(err, &ie) {
				t.Fatalf("error %T is not an *inventory.Error: %v", err, err)
			}
			prefix := fmt.Sprintf("%s:%d: ", path, tc.line)
			var hit *Issue
			for i, is := range ie.Issues {
				if strings.HasPrefix(is.Error(), prefix) && containsAll(is.Msg, tc.want) {
					hit = &ie.Issues[i]
				}
			}
			if hit == nil {
				t.Fatalf("no issue starting %q with %q in:\n%v", prefix, tc.want, err)
			}
			if strings.Contains(err.Error(), "goroutine") || strings.Contains(err.Error(), "panic") {
				t.Errorf("error looks like a crash: %v", err)
			}
		})
	}
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

func TestLoadFileErrors(t *testing.T) {
	f := newFixture(t)
	_, err := Load(filepath.Join(f.dir, "missing.yaml"))
	if err == nil || !strings.Contains(err.Error(), "missing.yaml: the inventory file does not exist") || !strings.Contains(err.Error(), "sim up") {
		t.Errorf("missing file: %v", err)
	}
	empty := filepath.Join(f.dir, "empty.yaml")
	os.WriteFile(empty, nil, 0o644)
	if _, err := Load(empty); err == nil || !strings.Contains(err.Error(), "the file is empty") {
		t.Errorf("empty file: %v", err)
	}
	// Several problems are all reported, in line order.
	_, _, err = f.load(t, "cluster: c1\nbogus: 1\nnodes:\n  - name: a\n    host: 10.0.0.1\n    ssh_port: 0\n", "")
	if err == nil || !strings.Contains(err.Error(), "2 problems") || strings.Index(err.Error(), ":2: ") > strings.Index(err.Error(), ":6: ") {
		t.Errorf("two problems: %v", err)
	}
}

// ssh_config fills in what the inventory leaves open; explicit inventory
// values win.
func TestSSHConfigPrecedence(t *testing.T) {
	f := newFixture(t)
	sshID := filepath.Join(f.home, ".ssh", "id_cfg")
	os.WriteFile(sshID, []byte("k"), 0o600)
	cfg := `Host fw-a
  HostName 10.0.9.11
  User cfguser
  Port 2201
  IdentityFile ~/.ssh/id_cfg
  IdentityFile ~/.ssh/id_missing
  ProxyJump jumper@bastion:2022

Host fw-b
  HostName 10.0.9.12
  User cfguser
  Port 2202

Host bastion
  HostName 10.0.9.1

Host *
  User wildcard
`
	t.Run("ssh_config fills unset values", func(t *testing.T) {
		inv := mustLoad(t, f, "cluster: c\nssh:\n  identity_files: ["+f.idFile+"]\n  known_hosts: "+f.knownHosts+"\nnodes:\n  - name: a\n    host: fw-a\n", cfg)
		n, _ := inv.Node("a")
		if n.Alias != "fw-a" || n.Host != "10.0.9.11" || n.User != "cfguser" || n.SSHPort != 2201 {
			t.Errorf("node = %+v", n)
		}
		if n.APIHost != "10.0.9.11" || n.APIURL != "https://10.0.9.11:8443" {
			t.Errorf("the API host is the resolved HostName: %+v", n)
		}
		if !reflect.DeepEqual(n.IdentityFiles, []string{f.idFile, sshID}) {
			t.Errorf("identity files = %v: want the inventory's, then ssh_config's that exist", n.IdentityFiles)
		}
		if !reflect.DeepEqual(n.Jump, []Jump{{User: "jumper", Host: "10.0.9.1", Port: 2022}}) {
			t.Errorf("jump = %+v: want ProxyJump, with the jump alias's HostName applied", n.Jump)
		}
		if inv.SSHConfig != filepath.Join(f.dir, "ssh_config") {
			t.Errorf("SSHConfig = %q", inv.SSHConfig)
		}
	})
	t.Run("ssh section beats ssh_config", func(t *testing.T) {
		inv := mustLoad(t, f, "cluster: c\nssh:\n  user: invuser\n  port: 2222\n  jump_host: none\n  known_hosts: "+f.knownHosts+"\nnodes:\n  - name: a\n    host: fw-a\n", cfg)
		n, _ := inv.Node("a")
		if n.Host != "10.0.9.11" || n.User != "invuser" || n.SSHPort != 2222 || len(n.Jump) != 0 {
			t.Errorf("node = %+v: HostName from ssh_config, user/port/jump from the ssh section", n)
		}
	})
	t.Run("node keys beat everything", func(t *testing.T) {
		inv := mustLoad(t, f, "cluster: c\nssh:\n  user: invuser\n  port: 2222\n  known_hosts: "+f.knownHosts+
			"\nnodes:\n  - name: b\n    host: fw-b\n    user: nodeuser\n    ssh_port: 2299\n    api_host: 10.0.8.12\n    jump_host: x@j:1\n", cfg)
		n, _ := inv.Node("b")
		if n.Host != "10.0.9.12" || n.User != "nodeuser" || n.SSHPort != 2299 || n.APIHost != "10.0.8.12" ||
			!reflect.DeepEqual(n.Jump, []Jump{{User: "x", Host: "j", Port: 1}}) {
			t.Errorf("node = %+v", n)
		}
	})
	t.Run("wildcard block and defaults", func(t *testing.T) {
		inv := mustLoad(t, f, "cluster: c\nssh:\n  known_hosts: "+f.knownHosts+"\nnodes:\n  - name: z\n    host: 10.0.0.5\n", cfg)
		n, _ := inv.Node("z")
		if n.User != "wildcard" || n.SSHPort != 22 || n.Host != "10.0.0.5" {
			t.Errorf("node = %+v: want Host * User applied, port default", n)
		}
	})
	t.Run("bad ssh_config port is reported", func(t *testing.T) {
		_, _, err := f.load(t, "cluster: c\nssh:\n  known_hosts: "+f.knownHosts+"\nnodes:\n  - name: a\n    host: fw-q\n    api_host: 10.0.0.1\n",
			"Host fw-q\n  Port nine\n")
		if err == nil || !strings.Contains(err.Error(), `gives Port "nine" for fw-q`) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("unparseable ssh_config is an error with the fix", func(t *testing.T) {
		_, _, err := f.load(t, minimal, "Match exec \"true\"\n  User x\n")
		if err == nil || !strings.Contains(err.Error(), "cannot use the ssh_config file") || !strings.Contains(err.Error(), EnvSSHConfig) {
			t.Errorf("err = %v", err)
		}
	})
}

// The default ssh_config is $HOME/.ssh/config; NWROLL_SSH_CONFIG replaces it.
func TestSSHConfigLocation(t *testing.T) {
	f := newFixture(t)
	p := filepath.Join(f.dir, "inventory.yaml")
	os.WriteFile(p, []byte("cluster: c\nnodes:\n  - name: a\n    host: fw-a\n"), 0o644)
	os.WriteFile(filepath.Join(f.home, ".ssh", "config"), []byte("Host fw-a\n  HostName 10.1.1.1\n  User homeuser\n"), 0o600)
	inv, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := inv.Node("a"); n.Host != "10.1.1.1" || n.User != "homeuser" {
		t.Errorf("$HOME/.ssh/config not honoured: %+v", n)
	}
	alt := filepath.Join(f.dir, "alt_config")
	os.WriteFile(alt, []byte("Host fw-a\n  HostName 10.2.2.2\n"), 0o600)
	t.Setenv(EnvSSHConfig, alt)
	inv, err = Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := inv.Node("a"); n.Host != "10.2.2.2" || n.User != "alice" || inv.SSHConfig != alt {
		t.Errorf("%s not honoured: %+v (config %s)", EnvSSHConfig, n, inv.SSHConfig)
	}
	t.Setenv(EnvSSHConfig, "none")
	if _, err := Load(p); err == nil || !strings.Contains(err.Error(), `host "fw-a" is not an IP address`) {
		t.Errorf("with ssh_config disabled the alias stays unresolved; err = %v", err)
	}
	t.Setenv(EnvSSHConfig, filepath.Join(f.dir, "nope"))
	if _, err := Load(p); err == nil || !strings.Contains(err.Error(), "cannot use the ssh_config file") {
		t.Errorf("a missing explicit ssh_config is an error; err = %v", err)
	}
}

func TestSplitWords(t *testing.T) {
	cases := []struct {
		in   string
		want []string
		bad  bool
	}{
		{"systemctl stop neuwerk.service", []string{"systemctl", "stop", "neuwerk.service"}, false},
		{"  a   'b c'  \"d e\" f\\ g ''", []string{"a", "b c", "d e", "f g", ""}, false},
		{`sh -c 'systemctl stop x && echo ok'`, []string{"sh", "-c", "systemctl stop x && echo ok"}, false},
		{`echo "a\"b"`, []string{"echo", `a"b`}, false},
		{"a | b", nil, true},
		{"a > /tmp/x", nil, true},
		{"a `b`", nil, true},
		{"a 'b", nil, true},
		{`a "b`, nil, true},
		{"a \\", nil, true},
		{"   ", nil, true},
		{"a # comment", nil, true},
	}
	for _, tc := range cases {
		got, msg := splitWords(tc.in)
		if tc.bad != (msg != "") || !tc.bad && !reflect.DeepEqual(got, tc.want) {
			t.Errorf("splitWords(%q) = %q, %q", tc.in, got, msg)
		}
	}
}

func TestSuggest(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{"hots", `(did you mean "host"?)`},
		{"Host", `(did you mean "host"?)`},
		{"api_hst", `(did you mean "api_host"?)`},
		{"knownhosts", `(did you mean "known_hosts"?)`},
		{"zzzzzzzz", ""},
	} {
		if s := suggest(tc.got, append(append([]string{}, nodeKeys...), sshKeys...)); !strings.Contains(s, tc.want) || tc.want == "" && s != "" {
			t.Errorf("suggest(%q) = %q, want %q", tc.got, s, tc.want)
		}
	}
}

// YAML anchors and aliases work (a node list may share its paths).
func TestAnchors(t *testing.T) {
	f := newFixture(t)
	inv := mustLoad(t, f, `cluster: c
nodes:
  - name: a
    host: 10.0.0.1
    paths: &p
      binary: /x/neuwerk
  - name: b
    host: 10.0.0.2
    paths: *p
`, "")
	if b, _ := inv.Node("b"); b.Paths.Binary != "/x/neuwerk" {
		t.Errorf("alias not followed: %+v", b.Paths)
	}
}
