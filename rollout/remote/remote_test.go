package remote

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/nwroll/nwroll/rollout/inventory"
	"github.com/nwroll/nwroll/sim"
)

// The same suite runs against real OpenSSH sshd and the simulator's
// embedded SSH server.
func TestRemoteOpenSSH(t *testing.T) {
	c := startCluster(t, sim.SSHOpenSSH, 2)
	suite(t, c)
	t.Run("jump host", func(t *testing.T) { testJumpHost(t, c) })
}

func TestRemoteEmbedded(t *testing.T) {
	c := startCluster(t, sim.SSHEmbedded, 2)
	suite(t, c)
}

func suite(t *testing.T, c *cluster) {
	t.Run("run streams lines and the exit code", func(t *testing.T) { testRunLines(t, c) })
	t.Run("run with sudo and stdin", func(t *testing.T) { testRunSudoStdin(t, c) })
	t.Run("quoting: spaces, quotes and $(...) in paths", func(t *testing.T) { testQuoting(t, c) })
	t.Run("upload is verified and atomic", func(t *testing.T) { testUpload(t, c) })
	t.Run("upload with a wrong sha leaves nothing", func(t *testing.T) { testUploadWrongSHA(t, c) })
	t.Run("upload cancelled midway leaves nothing", func(t *testing.T) { testUploadCancel(t, c) })
	t.Run("upload over a dropped connection leaves nothing", func(t *testing.T) { testUploadDrop(t, c) })
	t.Run("privileged upload runs under sudo", func(t *testing.T) { testUploadPrivileged(t, c) })
	t.Run("upload on a node without a working openssl", func(t *testing.T) { testUploadNoOpenSSL(t, c) })
	t.Run("download round trip", func(t *testing.T) { testDownload(t, c) })
	t.Run("unknown host key", func(t *testing.T) { testUnknownHost(t, c) })
	t.Run("host key mismatch", func(t *testing.T) { testMismatch(t, c) })
	t.Run("connection reuse", func(t *testing.T) { testReuse(t, c) })
	t.Run("many concurrent commands share one connection", func(t *testing.T) { testConcurrent(t, c) })
	t.Run("cancel a long command", func(t *testing.T) { testCancelRun(t, c) })
	t.Run("auth failure", func(t *testing.T) { testAuthFailure(t, c) })
	t.Run("agent auth", func(t *testing.T) { testAgent(t, c) })
	t.Run("transient dial failures are retried", func(t *testing.T) { testRetry(t, c) })
	t.Run("keepalive closes a dead connection and it is replaced", func(t *testing.T) { testKeepalive(t, c) })
}

func testRunLines(t *testing.T, c *cluster) {
	d, _ := newDialer(t, SSHOptions{})
	r := dial(t, d, c.nodes[0])
	var mu sync.Mutex
	got := map[Stream][]string{}
	script := `for i in 1 2 3 4 5; do echo "out $i"; echo "err $i" >&2; done; printf 'no newline'; exit 7`
	res, err := r.Run(context.Background(), Cmd("sh", "-c", script), func(s Stream, l string) {
		mu.Lock()
		got[s] = append(got[s], l)
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 7 || res.Signal != "" {
		t.Errorf("result = %+v, want exit 7", res)
	}
	wantOut := []string{"out 1", "out 2", "out 3", "out 4", "out 5", "no newline"}
	wantErr := []string{"err 1", "err 2", "err 3", "err 4", "err 5"}
	if !reflect.DeepEqual(got[Stdout], wantOut) || !reflect.DeepEqual(got[Stderr], wantErr) {
		t.Errorf("stdout %q stderr %q", got[Stdout], got[Stderr])
	}
	// Many lines keep their order; a long line arrives whole.
	long := strings.Repeat("x", 10000)
	out, res := runOut(t, r, Cmd("sh", "-c", `i=0; while [ $i -lt 2000 ]; do echo $i; i=$((i+1)); done; echo "$1"`, "sh", long))
	if res.ExitCode != 0 || len(out) != 2001 || out[1999] != "1999" || out[2000] != long {
		t.Errorf("exit %d, %d lines", res.ExitCode, len(out))
	}
	for i := 0; i < 2000 && i < len(out); i++ {
		if out[i] != strconv.Itoa(i) {
			t.Fatalf("line %d = %q", i, out[i])
		}
	}
	// A command killed by a signal.
	res, err = r.Run(context.Background(), Cmd("sh", "-c", "kill -KILL $$"), nil)
	if err != nil || res.ExitCode == 0 {
		t.Errorf("killed command: %+v, %v", res, err)
	}
	if _, err := r.Run(context.Background(), Command{}, nil); err == nil {
		t.Error("empty command accepted")
	}
}

func testRunSudoStdin(t *testing.T, c *cluster) {
	d, _ := newDialer(t, SSHOptions{})
	n := c.nodes[0]
	r := dial(t, d, n)
	cmd := Privileged(n, "systemctl", "is-active", "neuwerk.service")
	if !cmd.Sudo || cmd.String() != "sudo -n systemctl is-active neuwerk.service" {
		t.Errorf("Privileged = %+v (%s)", cmd, cmd)
	}
	out, res := runOut(t, r, cmd)
	if res.ExitCode != 0 || !reflect.DeepEqual(out, []string{"active"}) {
		t.Errorf("is-active: %+v %q", res, out)
	}
	in := "line one\nline 'two'\n"
	out, res = runOut(t, r, Command{Argv: []string{"cat"}, Stdin: strings.NewReader(in)})
	if res.ExitCode != 0 || strings.Join(out, "\n")+"\n" != in {
		t.Errorf("stdin echo: %+v %q", res, out)
	}
}

// A directory and a file whose names hold spaces, quotes, $(...) and
// backticks are created and used literally; no substitution runs.
func testQuoting(t *testing.T, c *cluster) {
	d, _ := newDialer(t, SSHOptions{})
	n := c.nodes[0]
	r := dial(t, d, n)
	marker := "nwroll-quoting-" + strconv.Itoa(os.Getpid())
	name := fmt.Sprintf(`it's a "dir" $(touch %s-1) `+"`touch %s-2`"+` ; touch %s-3 & \ $HOME *`, marker, marker, marker)
	dir := filepath.Join(n.Paths.BackupDir, name)
	if _, res := runOut(t, r, Cmd("mkdir", "-p", "--", dir)); res.ExitCode != 0 {
		t.Fatalf("mkdir exited %d", res.ExitCode)
	}
	st, err := os.Stat(dir) // the simulated node's file system is this machine's
	if err != nil || !st.IsDir() {
		t.Fatalf("the literal directory %q was not created: %v", dir, err)
	}
	out, _ := runOut(t, r, Cmd("printf", "%s\n", name))
	if len(out) != 1 || out[0] != name {
		t.Errorf("printf round trip = %q, want %q", out, name)
	}
	local := writeRandom(t, t.TempDir(), 4096)
	file := filepath.Join(dir, `file 'x' $(y).bin`)
	if err := r.Upload(context.Background(), local, file, 0o640, "", nil); err != nil {
		t.Fatalf("upload into %q: %v", dir, err)
	}
	if _, err := os.Stat(file); err != nil {
		t.Errorf("uploaded file missing: %v", err)
	}
	out, _ = runOut(t, r, Cmd("ls", "-1", "--", dir))
	if !reflect.DeepEqual(out, []string{`file 'x' $(y).bin`}) {
		t.Errorf("ls = %q", out)
	}
	home, _ := os.UserHomeDir()
	for _, where := range []string{home, n.Paths.BackupDir, dir, filepath.Dir(filepath.Dir(filepath.Dir(n.Paths.Binary))), "."} {
		for i := 1; i <= 3; i++ {
			p := filepath.Join(where, fmt.Sprintf("%s-%d", marker, i))
			if _, err := os.Stat(p); err == nil {
				os.Remove(p)
				t.Errorf("a substitution ran: %s exists", p)
			}
		}
	}
}

func testUpload(t *testing.T, c *cluster) {
	d, _ := newDialer(t, SSHOptions{})
	n := c.nodes[1]
	r := dial(t, d, n)
	local := writeRandom(t, t.TempDir(), 5<<20+123)
	data, _ := os.ReadFile(local)
	sum := sha256.Sum256(data)
	want := hex.EncodeToString(sum[:])
	dst := filepath.Join(n.Paths.BackupDir, "staged.bin")
	os.WriteFile(dst, []byte("old content"), 0o644) // replaced atomically
	var calls int
	var last, lastTotal int64
	monotonic := true
	err := r.Upload(context.Background(), local, dst, 0o750, strings.ToUpper(want), func(done, total int64) {
		calls++
		if done < last {
			monotonic = false
		}
		last, lastTotal = done, total
	})
	if err != nil {
		t.Fatalf("upload: %v", err)
	}
	got, err := os.ReadFile(dst)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("content differs (%v)", err)
	}
	st, _ := os.Stat(dst)
	if st.Mode().Perm() != 0o750 {
		t.Errorf("mode %o, want 750", st.Mode().Perm())
	}
	if calls < 2 || !monotonic || last != int64(len(data)) || lastTotal != int64(len(data)) {
		t.Errorf("progress: %d calls, monotonic %v, last %d/%d", calls, monotonic, last, lastTotal)
	}
	if tmp := tempsIn(t, n.Paths.BackupDir); len(tmp) != 0 {
		t.Errorf("temporary files left: %v", tmp)
	}
	// The empty file, and a relative remote path is refused.
	empty := filepath.Join(t.TempDir(), "empty")
	os.WriteFile(empty, nil, 0o644)
	if err := r.Upload(context.Background(), empty, filepath.Join(n.Paths.BackupDir, "empty"), 0o600, "", nil); err != nil {
		t.Errorf("empty upload: %v", err)
	}
	if err := r.Upload(context.Background(), empty, "relative/x", 0o600, "", nil); err == nil {
		t.Error("relative remote path accepted")
	}
	// A missing remote directory names the problem.
	err = r.Upload(context.Background(), local, filepath.Join(n.Paths.BackupDir, "no", "such", "dir", "x"), 0o600, "", nil)
	if err == nil || !strings.Contains(err.Error(), "does the directory exist") {
		t.Errorf("missing dir: %v", err)
	}
}

func testUploadWrongSHA(t *testing.T, c *cluster) {
	d, _ := newDialer(t, SSHOptions{})
	n := c.nodes[0]
	r := dial(t, d, n)
	local := writeRandom(t, t.TempDir(), 1<<20)
	dst := filepath.Join(n.Paths.BackupDir, "wrong-sha.bin")
	bad := strings.Repeat("ab", 32)
	err := r.Upload(context.Background(), local, dst, 0o755, bad, nil)
	if err == nil {
		t.Fatal("upload with a wrong sha succeeded")
	}
	mustContain(t, err.Error(), bad, "nothing was installed")
	if _, serr := os.Stat(dst); !os.IsNotExist(serr) {
		t.Errorf("final file exists after a failed upload (%v)", serr)
	}
	if tmp := tempsIn(t, n.Paths.BackupDir); len(tmp) != 0 {
		t.Errorf("temporary files left: %v", tmp)
	}
	if err := r.Upload(context.Background(), local, dst, 0o755, "not-hex", nil); err == nil {
		t.Error("a malformed sha was accepted")
	}
}

func testUploadCancel(t *testing.T, c *cluster) {
	d, _ := newDialer(t, SSHOptions{})
	n := c.nodes[0]
	r := dial(t, d, n)
	local := writeRandom(t, t.TempDir(), 16<<20)
	dst := filepath.Join(n.Paths.BackupDir, "cancelled.bin")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var at int64
	err := r.Upload(ctx, local, dst, 0o755, "", func(done, total int64) {
		if done > 2<<20 && at == 0 {
			at = done
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if at == 0 {
		t.Fatal("never cancelled")
	}
	if _, serr := os.Stat(dst); !os.IsNotExist(serr) {
		t.Errorf("final file exists after a cancelled upload (%v)", serr)
	}
	if tmp := tempsIn(t, n.Paths.BackupDir); len(tmp) != 0 {
		t.Errorf("temporary files left: %v", tmp)
	}
	// The connection is still usable.
	if _, res := runOut(t, r, Cmd("true")); res.ExitCode != 0 {
		t.Error("connection unusable after a cancelled upload")
	}
}

// The TCP connection is cut in the middle of an upload: the final name never
// appears, the temporary file is removed over a new connection.
func testUploadDrop(t *testing.T, c *cluster) {
	cnt := &counter{}
	var cut *cutConn
	cnt.wrap = func(nc net.Conn) net.Conn {
		if cut == nil {
			cut = &cutConn{Conn: nc, limit: 3 << 20}
			return cut
		}
		return nc
	}
	d, _ := newDialer(t, SSHOptions{DialContext: cnt.dial})
	n := c.nodes[1]
	r := dial(t, d, n)
	local := writeRandom(t, t.TempDir(), 12<<20)
	dst := filepath.Join(n.Paths.BackupDir, "dropped.bin")
	err := r.Upload(context.Background(), local, dst, 0o755, "", nil)
	if err == nil {
		t.Fatal("upload over a cut connection succeeded")
	}
	t.Logf("error: %v", err)
	if !cut.cut.Load() {
		t.Fatal("the connection was never cut")
	}
	if _, serr := os.Stat(dst); !os.IsNotExist(serr) {
		t.Errorf("final file exists after a dropped upload (%v)", serr)
	}
	if tmp := tempsIn(t, n.Paths.BackupDir); len(tmp) != 0 {
		t.Errorf("temporary files left: %v", tmp)
	}
	if cnt.count() != 2 {
		t.Errorf("%d TCP connections, want 2 (the cut one and the one that cleaned up)", cnt.count())
	}
	// And a retry goes through.
	if err := r.Upload(context.Background(), local, dst, 0o755, "", nil); err != nil {
		t.Errorf("upload after reconnect: %v", err)
	}
}

// UploadPrivileged runs the node-side work under sudo -n when the node's
// inventory says sudo, and not otherwise; a mismatch still leaves nothing.
// The node's sudo is wrapped to record its calls.
func testUploadPrivileged(t *testing.T, c *cluster) {
	n := c.nodes[0]
	nodeDir := c.nodeDir(n.Name)
	shim := filepath.Join(nodeDir, "sim-bin", "sudo")
	orig, err := os.ReadFile(shim)
	if err != nil {
		t.Fatal(err)
	}
	calls := filepath.Join(t.TempDir(), "sudo-calls")
	wrapped := "#!/bin/sh\nprintf '%s\\n' \"$1\" >> " + Quote(calls) + "\n" + strings.TrimPrefix(string(orig), "#!/bin/sh\n")
	if err := os.WriteFile(shim, []byte(wrapped), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.WriteFile(shim, orig, 0o755) })
	sudoCalls := func() []string {
		b, _ := os.ReadFile(calls)
		os.Remove(calls)
		return strings.Fields(string(b))
	}

	local := writeRandom(t, t.TempDir(), 1<<20+5)
	data, _ := os.ReadFile(local)
	sum := sha256.Sum256(data)
	want := hex.EncodeToString(sum[:])
	dst := filepath.Join(n.Paths.BackupDir, "privileged.bin")
	for _, sudo := range []bool{true, false} {
		os.Remove(dst)
		n.Sudo = sudo
		d, _ := newDialer(t, SSHOptions{})
		r := dial(t, d, n)
		var last int64
		if err := r.UploadPrivileged(context.Background(), local, dst, 0o700, want, func(done, total int64) { last = done }); err != nil {
			t.Fatalf("sudo %v: %v", sudo, err)
		}
		if got, err := os.ReadFile(dst); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("sudo %v: content differs (%v)", sudo, err)
		}
		if st, _ := os.Stat(dst); st.Mode().Perm() != 0o700 {
			t.Errorf("sudo %v: mode %o, want 700", sudo, st.Mode().Perm())
		}
		if last != int64(len(data)) {
			t.Errorf("sudo %v: progress ended at %d of %d", sudo, last, len(data))
		}
		got := sudoCalls()
		if sudo && !reflect.DeepEqual(got, []string{"-n"}) || !sudo && len(got) != 0 {
			t.Errorf("sudo %v: sudo called with %q", sudo, got)
		}
		bad := strings.Repeat("cd", 32)
		err := r.UploadPrivileged(context.Background(), local, dst+".bad", 0o700, bad, nil)
		if err == nil {
			t.Fatalf("sudo %v: a wrong sha was accepted", sudo)
		}
		mustContain(t, err.Error(), bad, want, n.Name, "nothing was installed")
		if _, serr := os.Stat(dst + ".bad"); !os.IsNotExist(serr) {
			t.Errorf("sudo %v: final file exists after a mismatch (%v)", sudo, serr)
		}
		sudoCalls()
	}
	// Bytes changed on their way into the node's command: the error names
	// the node, the path and both hashes, and nothing is installed.
	if err := os.WriteFile(shim, []byte("#!/bin/sh\nshift\n{ cat; printf x; } | \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	n.Sudo = true
	d, _ := newDialer(t, SSHOptions{})
	r := dial(t, d, n)
	os.Remove(dst)
	err = r.UploadPrivileged(context.Background(), local, dst, 0o700, want, nil)
	if err == nil {
		t.Fatal("an upload whose bytes changed on the way was installed")
	}
	node := sha256.Sum256(append(data, 'x'))
	mustContain(t, err.Error(), n.Name, dst, want, hex.EncodeToString(node[:]), "corrupted", "nothing was installed")
	if _, serr := os.Stat(dst); !os.IsNotExist(serr) {
		t.Errorf("final file exists after a corrupted transfer (%v)", serr)
	}
	if tmp := tempsIn(t, n.Paths.BackupDir); len(tmp) != 0 {
		t.Errorf("temporary files left: %v", tmp)
	}
}

// A node whose openssl fails (or is missing) hashes with sha256sum: the
// upload still verifies, and a mismatch still leaves nothing.
func testUploadNoOpenSSL(t *testing.T, c *cluster) {
	n := c.nodes[1]
	nodeDir := c.nodeDir(n.Name)
	fake := filepath.Join(nodeDir, "sim-bin", "openssl")
	calls := filepath.Join(t.TempDir(), "openssl-calls")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\necho called >> "+Quote(calls)+"\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(fake) })
	d, _ := newDialer(t, SSHOptions{})
	r := dial(t, d, n)
	local := writeRandom(t, t.TempDir(), 2<<20+1)
	data, _ := os.ReadFile(local)
	dst := filepath.Join(n.Paths.BackupDir, "no-openssl.bin")
	if err := r.Upload(context.Background(), local, dst, 0o644, "", nil); err != nil {
		t.Fatalf("upload: %v", err)
	}
	if got, err := os.ReadFile(dst); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("content differs (%v)", err)
	}
	if b, _ := os.ReadFile(calls); len(b) == 0 {
		t.Error("the fake openssl was never asked: the test proves nothing")
	}
	bad := strings.Repeat("ef", 32)
	if err := r.Upload(context.Background(), local, dst+".bad", 0o644, bad, nil); err == nil || !strings.Contains(err.Error(), "nothing was installed") {
		t.Errorf("wrong sha: %v", err)
	}
	if _, serr := os.Stat(dst + ".bad"); !os.IsNotExist(serr) {
		t.Errorf("final file exists after a mismatch (%v)", serr)
	}
	if tmp := tempsIn(t, n.Paths.BackupDir); len(tmp) != 0 {
		t.Errorf("temporary files left: %v", tmp)
	}
}

func testDownload(t *testing.T, c *cluster) {
	d, _ := newDialer(t, SSHOptions{})
	n := c.nodes[0]
	r := dial(t, d, n)
	local := writeRandom(t, t.TempDir(), 3<<20+7)
	data, _ := os.ReadFile(local)
	remote := filepath.Join(n.Paths.BackupDir, "round trip.bin")
	if err := r.Upload(context.Background(), local, remote, 0o644, "", nil); err != nil {
		t.Fatal(err)
	}
	outDir := t.TempDir()
	back := filepath.Join(outDir, "back.bin")
	var last, total int64
	if err := r.Download(context.Background(), remote, back, 0o600, func(d, tt int64) { last, total = d, tt }); err != nil {
		t.Fatalf("download: %v", err)
	}
	got, _ := os.ReadFile(back)
	if !bytes.Equal(got, data) {
		t.Error("downloaded content differs")
	}
	if st, _ := os.Stat(back); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %o", st.Mode().Perm())
	}
	if last != int64(len(data)) || total != int64(len(data)) {
		t.Errorf("progress %d/%d", last, total)
	}
	// A missing remote file fails and leaves nothing locally.
	if err := r.Download(context.Background(), remote+".nope", filepath.Join(outDir, "x"), 0o600, nil); err == nil {
		t.Error("download of a missing file succeeded")
	}
	// Cancelled midway: no final file, no temporary file.
	ctx, cancel := context.WithCancel(context.Background())
	err := r.Download(ctx, remote, filepath.Join(outDir, "cancelled"), 0o600, func(done, _ int64) {
		if done > 512<<10 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled download: %v", err)
	}
	ents, _ := os.ReadDir(outDir)
	if len(ents) != 1 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("local dir holds %v, want only back.bin", names)
	}
}

func testUnknownHost(t *testing.T, c *cluster) {
	n := c.nodes[0]
	empty := filepath.Join(t.TempDir(), "known_hosts")
	os.WriteFile(empty, nil, 0o600)
	node := withNode(n, func(n *inventory.Node) { n.KnownHosts = empty })
	d, cnt := newDialer(t, SSHOptions{})
	_, err := d.Dial(context.Background(), node)
	var hk *HostKeyError
	if !errors.As(err, &hk) {
		t.Fatalf("err = %v, want a *HostKeyError", err)
	}
	key := hostKeyOf(t, c.info.KnownHosts, n.SSHAddr())
	if hk.Kind != HostKeyUnknown || hk.Fingerprint != ssh.FingerprintSHA256(key) || hk.KeyType != key.Type() ||
		hk.KnownHostsFile != empty || hk.Node != n.Name {
		t.Errorf("HostKeyError = %+v, want unknown with fingerprint %s", hk, ssh.FingerprintSHA256(key))
	}
	host, port, _ := net.SplitHostPort(n.SSHAddr())
	mustContain(t, err.Error(), ssh.FingerprintSHA256(key), "never trusts a host key on first use", "out of band",
		"ssh-keyscan -t ed25519 -p "+port+" "+host+" >> "+empty)
	if cnt.count() != 1 {
		t.Errorf("%d connections: a host key error must not be retried", cnt.count())
	}
	// The file is unchanged: nothing is ever trusted on first use.
	if b, _ := os.ReadFile(empty); len(b) != 0 {
		t.Errorf("known_hosts was written: %q", b)
	}
	// A missing known_hosts file says what to do.
	node.KnownHosts = filepath.Join(t.TempDir(), "nope")
	if _, err := d.Dial(context.Background(), node); err == nil || !strings.Contains(err.Error(), "ssh-keyscan") {
		t.Errorf("missing known_hosts: %v", err)
	}
}

func testMismatch(t *testing.T, c *cluster) {
	n := c.nodes[0]
	other := newKey(t, filepath.Join(t.TempDir(), "other")).PublicKey()
	host, port, _ := net.SplitHostPort(n.SSHAddr())
	kh := filepath.Join(t.TempDir(), "known_hosts")
	text := "# first line is a comment\n" +
		"[10.9.9.9]:22 " + string(ssh.MarshalAuthorizedKey(other)) +
		"[" + host + "]:" + port + " " + string(ssh.MarshalAuthorizedKey(other))
	os.WriteFile(kh, []byte(text), 0o600)
	node := withNode(n, func(n *inventory.Node) { n.KnownHosts = kh })
	d, cnt := newDialer(t, SSHOptions{})
	_, err := d.Dial(context.Background(), node)
	var hk *HostKeyError
	if !errors.As(err, &hk) {
		t.Fatalf("err = %v, want a *HostKeyError", err)
	}
	key := hostKeyOf(t, c.info.KnownHosts, n.SSHAddr())
	if hk.Kind != HostKeyMismatch || hk.KnownHostsFile != kh || hk.Line != 3 || hk.Fingerprint != ssh.FingerprintSHA256(key) {
		t.Errorf("HostKeyError = %+v, want a mismatch at %s:3", hk, kh)
	}
	mustContain(t, err.Error(), "HOST KEY MISMATCH", ssh.FingerprintSHA256(key), kh+":3", "ssh-keygen -R '["+host+"]:"+port+"'")
	if cnt.count() != 1 {
		t.Errorf("%d connections: a host key error must not be retried", cnt.count())
	}

	// known_hosts holds only a key type the node does not offer: no fallback
	// to another type, a clear error.
	rsaLine := "[" + host + "]:" + port + " ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC7vbqajDhA7vq8l8n1X0m4OHHaDh7l2X6nrLNLeXuiKiw5n2BuMcOFNHWJOwuMmCDWYa4oDO/Jz0n5hrTTmIi0JnfSQqbYH4MqT2hnx4bdRhRk3ynnE/1UBI5XqLSnO3DFTOIHwwFTeFEf4hJ/Od2gnOkYGbDz3Ttz+Cst/cqKQQ==\n"
	os.WriteFile(kh, []byte(rsaLine), 0o600)
	_, err = d.Dial(context.Background(), node)
	if err == nil || errors.As(err, &hk) && hk.Kind == HostKeyUnknown {
		t.Fatalf("err = %v, want a refusal", err)
	}
	t.Logf("rsa-only known_hosts: %v", err)
}

func testReuse(t *testing.T, c *cluster) {
	d, cnt := newDialer(t, SSHOptions{})
	n := c.nodes[0]
	r1 := dial(t, d, n)
	r2 := dial(t, d, n) // a second handle on the same node
	var wg sync.WaitGroup
	for _, r := range []Remote{r1, r2, r1} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, res := runOut(t, r, Cmd("echo", "hi")); res.ExitCode != 0 {
				t.Error("echo failed")
			}
		}()
	}
	wg.Wait()
	local := writeRandom(t, t.TempDir(), 64<<10)
	if err := r2.Upload(context.Background(), local, filepath.Join(n.Paths.BackupDir, "reuse.bin"), 0o600, "", nil); err != nil {
		t.Fatal(err)
	}
	if cnt.count() != 1 {
		t.Errorf("%d TCP connections for one node, want 1", cnt.count())
	}
	st := d.Stats()
	if st.Connects != 1 || st.Open != 1 || st.Reuses < 4 {
		t.Errorf("stats = %+v", st)
	}
	// Another node gets its own connection.
	dial(t, d, c.nodes[1])
	if cnt.count() != 2 || d.Stats().Open != 2 {
		t.Errorf("%d connections, stats %+v", cnt.count(), d.Stats())
	}
	// A closed handle refuses; the dialer's other handles go on.
	r1.Close()
	if _, err := r1.Run(context.Background(), Cmd("true"), nil); !errors.Is(err, ErrClosed) {
		t.Errorf("closed handle: %v", err)
	}
	if _, res := runOut(t, r2, Cmd("true")); res.ExitCode != 0 {
		t.Error("second handle broken by closing the first")
	}
	d.Close()
	if _, err := r2.Run(context.Background(), Cmd("true"), nil); !errors.Is(err, ErrClosed) {
		t.Errorf("after dialer Close: %v", err)
	}
	if d.Stats().Open != 0 {
		t.Errorf("open after Close: %+v", d.Stats())
	}
}

// More concurrent sessions than OpenSSH's default MaxSessions (10) wait for
// a slot instead of failing, on one connection.
func testConcurrent(t *testing.T, c *cluster) {
	d, cnt := newDialer(t, SSHOptions{})
	r := dial(t, d, c.nodes[1])
	local := writeRandom(t, t.TempDir(), 256<<10)
	var wg sync.WaitGroup
	errs := make(chan error, 30)
	for i := 0; i < 24; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%6 == 0 {
				errs <- r.Upload(context.Background(), local, filepath.Join(c.nodes[1].Paths.BackupDir, fmt.Sprintf("conc-%d", i)), 0o600, "", nil)
				return
			}
			res, err := r.Run(context.Background(), Cmd("sh", "-c", "sleep 0.2; echo $1", "sh", strconv.Itoa(i)), nil)
			if err == nil && res.ExitCode != 0 {
				err = fmt.Errorf("exit %d", res.ExitCode)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if cnt.count() != 1 {
		t.Errorf("%d TCP connections, want 1", cnt.count())
	}
}

func testCancelRun(t *testing.T, c *cluster) {
	d, _ := newDialer(t, SSHOptions{})
	n := c.nodes[0]
	r := dial(t, d, n)
	pidFile := filepath.Join(n.Paths.BackupDir, "sleep.pid")
	os.Remove(pidFile)
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	go func() {
		for {
			if b, err := os.ReadFile(pidFile); err == nil && len(b) > 0 {
				close(started)
				time.Sleep(100 * time.Millisecond)
				cancel()
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	t0 := time.Now()
	_, err := r.Run(ctx, Cmd("sh", "-c", `echo $$ > "$1"; exec sleep 30`, "sh", pidFile), nil)
	elapsed := time.Since(t0)
	<-started
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if elapsed > 5*time.Second {
		t.Errorf("Run returned %s after the start, want promptly after the cancel", elapsed)
	}
	// The remote process got the signal: it is gone (the node is this machine).
	b, _ := os.ReadFile(pidFile)
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	deadline := time.Now().Add(5 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("remote process %d still runs 5s after the cancel", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A context that has already ended runs nothing.
	if _, err := r.Run(ctx, Cmd("true"), nil); !errors.Is(err, context.Canceled) {
		t.Errorf("ended context: %v", err)
	}
	// A deadline reports DeadlineExceeded.
	dctx, dcancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer dcancel()
	if _, err := r.Run(dctx, Cmd("sleep", "30"), nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("deadline: %v", err)
	}
}

func testAuthFailure(t *testing.T, c *cluster) {
	n := c.nodes[0]
	stranger := filepath.Join(t.TempDir(), "id_stranger")
	newKey(t, stranger)
	node := withNode(n, func(n *inventory.Node) { n.IdentityFiles = []string{stranger} })
	d, cnt := newDialer(t, SSHOptions{})
	_, err := d.Dial(context.Background(), node)
	var ae *AuthError
	if !errors.As(err, &ae) {
		t.Fatalf("err = %v, want an *AuthError", err)
	}
	mustContain(t, err.Error(), n.User+"@"+n.SSHAddr(), stranger, "ssh-add", "identity_files")
	if cnt.count() != 1 {
		t.Errorf("%d connections: an auth failure must not be retried", cnt.count())
	}
	// No key at all.
	node.IdentityFiles = nil
	_, err = d.Dial(context.Background(), node)
	if !errors.As(err, &ae) || !strings.Contains(err.Error(), "no key was offered") {
		t.Errorf("no keys: %v", err)
	}
}

func testRetry(t *testing.T, c *cluster) {
	n := c.nodes[0]
	p := newProxy(t, n.SSHAddr())
	p.drop.Store(2) // the first two connections die during the handshake
	host, port, _ := net.SplitHostPort(p.addr())
	pn, _ := strconv.Atoi(port)
	node := withNode(n, func(x *inventory.Node) {
		x.Host, x.SSHPort = host, pn
		// known_hosts for the proxy's address: the node's key.
		kh := filepath.Join(t.TempDir(), "known_hosts")
		key := hostKeyOf(t, c.info.KnownHosts, n.SSHAddr())
		os.WriteFile(kh, []byte("["+host+"]:"+port+" "+string(ssh.MarshalAuthorizedKey(key))), 0o600)
		x.KnownHosts = kh
	})
	d, _ := newDialer(t, SSHOptions{})
	r := dial(t, d, node)
	if p.accepted.Load() != 3 {
		t.Errorf("%d connection attempts, want 3", p.accepted.Load())
	}
	if _, res := runOut(t, r, Cmd("true")); res.ExitCode != 0 {
		t.Error("run after retries failed")
	}
	// Always dropped: gives up after 3 attempts and says so.
	p.drop.Store(100)
	p.accepted.Store(0)
	d2, _ := newDialer(t, SSHOptions{})
	_, err := d2.Dial(context.Background(), node)
	var de *DialError
	if !errors.As(err, &de) || de.Attempts != 3 || p.accepted.Load() != 3 {
		t.Errorf("err = %v (%d accepted), want a DialError after 3 attempts", err, p.accepted.Load())
	} else {
		mustContain(t, err.Error(), "gave up after 3 attempts", node.Target())
	}
	// Refused: retried, then a hint.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	refused := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	_, err = d2.Dial(context.Background(), withNode(node, func(x *inventory.Node) { x.SSHPort = refused }))
	if !errors.As(err, &de) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("refused: %v", err)
	} else {
		mustContain(t, err.Error(), "is sshd running", "3 attempts")
	}
	// A cancelled context stops the retries.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := d2.Dial(ctx, node); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled dial: %v", err)
	}
}

func testKeepalive(t *testing.T, c *cluster) {
	n := c.nodes[1]
	p := newProxy(t, n.SSHAddr())
	host, port, _ := net.SplitHostPort(p.addr())
	pn, _ := strconv.Atoi(port)
	kh := filepath.Join(t.TempDir(), "known_hosts")
	key := hostKeyOf(t, c.info.KnownHosts, n.SSHAddr())
	os.WriteFile(kh, []byte("["+host+"]:"+port+" "+string(ssh.MarshalAuthorizedKey(key))), 0o600)
	node := withNode(n, func(x *inventory.Node) { x.Host, x.SSHPort, x.KnownHosts = host, pn, kh })
	d, cnt := newDialer(t, SSHOptions{KeepaliveInterval: 150 * time.Millisecond, KeepaliveMaxMissed: 3})
	r := dial(t, d, node)
	time.Sleep(600 * time.Millisecond) // keepalives answered: the connection stays
	if st := d.Stats(); st.Open != 1 {
		t.Fatalf("stats %+v: a healthy connection was closed", st)
	}
	p.freeze(true)
	deadline := time.Now().Add(5 * time.Second)
	for d.Stats().Open != 0 {
		if time.Now().After(deadline) {
			t.Fatal("a frozen connection was not closed after 3 missed keepalives")
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.freeze(false)
	if _, res := runOut(t, r, Cmd("true")); res.ExitCode != 0 {
		t.Error("run after reconnect failed")
	}
	if cnt.count() != 2 || d.Stats().Connects != 2 {
		t.Errorf("%d TCP connections, stats %+v: want a second connection", cnt.count(), d.Stats())
	}
}

func TestQuote(t *testing.T) {
	cases := map[string]string{
		"":                "''",
		"plain":           "plain",
		"/opt/neuwerk/x":  "/opt/neuwerk/x",
		"a b":             "'a b'",
		"it's":            `'it'\''s'`,
		"$(rm -rf /)":     "'$(rm -rf /)'",
		"A=b":             "'A=b'",
		"~root":           "'~root'",
		"-n":              "-n",
		"new\nline":       "'new\nline'",
		"neuwerk.service": "neuwerk.service",
	}
	for in, want := range cases {
		if got := Quote(in); got != want {
			t.Errorf("Quote(%q) = %s, want %s", in, got, want)
		}
	}
	if got := Shell("sha256sum", "--", "/a b/c'd"); got != `sha256sum -- '/a b/c'\''d'` {
		t.Errorf("Shell = %s", got)
	}
	c := Command{Argv: []string{"systemctl", "stop", "neuwerk.service"}, Sudo: true}
	if c.String() != "sudo -n systemctl stop neuwerk.service" || !strings.HasSuffix(c.wire(), "; exec sudo -n systemctl stop neuwerk.service") {
		t.Errorf("command line %q / %q", c.String(), c.wire())
	}
}

// A POSIX shell gives back exactly the words Shell quoted.
func TestQuoteThroughShell(t *testing.T) {
	words := []string{"", " ", "'", "''", `"`, `\`, `\'`, "$HOME", "$(id)", "`id`", "a;b", "a&&b", "*", "?", "[a]", "~", "#x",
		"tab\there", "new\nline", "ünïcødé", "!", "{a,b}", "<x>", "|", "-e", "%s"}
	out, err := exec.Command("/bin/sh", "-c", `for a in `+Shell(words...)+`; do printf '%s\0' "$a"; done`).Output()
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
	if !reflect.DeepEqual(got, words) {
		t.Errorf("sh gave back\n %q\nwant\n %q", got, words)
	}
}

func FuzzQuote(f *testing.F) {
	for _, s := range []string{"", "a b", "it's", "$(x)", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if strings.ContainsRune(s, 0) {
			return // no shell argument can hold NUL
		}
		out, err := exec.Command("/bin/sh", "-c", "printf %s "+Quote(s)).Output()
		if err != nil {
			t.Fatalf("sh: %v", err)
		}
		if string(out) != s {
			t.Fatalf("sh gave back %q for %q (quoted %s)", out, s, Quote(s))
		}
	})
}

func TestTransient(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{syscall.ECONNREFUSED, true},
		{fmt.Errorf("dial: %w", syscall.ECONNRESET), true},
		{fmt.Errorf("ssh: handshake failed: %w", errors.New("EOF")), false},
		{fmt.Errorf("ssh: handshake failed: %w", io.EOF), true},
		{&HostKeyError{}, false},
		{&AuthError{}, false},
		{context.Canceled, false},
		{&net.DNSError{IsNotFound: true}, false},
		{&ssh.OpenChannelError{Reason: ssh.Prohibited}, false},
		{&ssh.OpenChannelError{Reason: ssh.ConnectionFailed}, true},
	} {
		if got := transient(tc.err); got != tc.want {
			t.Errorf("transient(%v) = %v", tc.err, got)
		}
	}
}

// nodeDir is the simulated node's root directory on this machine.
func (c *cluster) nodeDir(name string) string {
	for _, ni := range c.info.Nodes {
		if ni.Name == name {
			return ni.NodeDir
		}
	}
	return ""
}
