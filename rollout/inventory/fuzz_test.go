package inventory

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse: the loader never panics, and it either returns a complete
// inventory or an *Error whose every issue names the file.
func FuzzParse(f *testing.F) {
	seeds := []string{
		minimal,
		"",
		"cluster: c\nnodes: [{name: a, host: 10.0.0.1, ssh_port: 2222, paths: {binary: /x}}]\n",
		"cluster: c\nssh: {user: u, port: 22, identity_files: [a, b], known_hosts: /etc/hosts, jump_host: 'a@b:1,c', sudo: false}\nnodes:\n  - name: a\n    host: fd00::1\n",
		"cluster: c\ngates: {timeout: 1h, stabilisation: 0s}\nservice: {unit: u.service, stop: \"a 'b' \\\"c\\\"\"}\nnodes: [{name: a, host: 10.0.0.1}]\n",
		"a: &x [*x]\n",
		"- [ ]\n",
		"cluster: c\nnodes:\n  - &n {name: a, host: 10.0.0.1}\n  - *n\n",
		"{cluster: [], nodes: {}}",
		"cluster: c\nnodes:\n  - name: a\n    host: h\n    api_host: 1.2.3.4\n    jump_host: ssh://u@[::1]:22\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	home := f.TempDir()
	if err := os.MkdirAll(filepath.Join(home, ".ssh"), 0o700); err != nil {
		f.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, ".ssh", "known_hosts"), nil, 0o600); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		t.Setenv("HOME", home)
		t.Setenv("USER", "fuzz")
		inv, err := Parse("fuzz.yaml", data, Options{SSHConfig: "none"})
		if err != nil {
			var ie *Error
			if !errors.As(err, &ie) || len(ie.Issues) == 0 {
				t.Fatalf("error %T without issues: %v", err, err)
			}
			for _, is := range ie.Issues {
				if !strings.HasPrefix(is.Error(), "fuzz.yaml") {
					t.Fatalf("issue does not name the file: %q", is.Error())
				}
			}
			return
		}
		if inv.Cluster == "" || len(inv.Nodes()) == 0 {
			t.Fatalf("accepted an inventory without cluster or nodes: %+v", inv)
		}
		for _, n := range inv.Nodes() {
			if n.Name == "" || n.Host == "" || n.APIHost == "" || n.SSHPort < 1 || n.SSHPort > 65535 || n.Paths.Binary == "" {
				t.Fatalf("accepted an incomplete node: %+v", n)
			}
		}
	})
}
