package remote

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/nwroll/nwroll/sim"
)

// BenchmarkUpload64MiB uploads a 64 MiB file to a simulated node behind real
// OpenSSH sshd, as staging a release does (streamed into a temporary name
// and hashed on the node in the same pass, fsync, rename), and compares it
// with `scp` of the same file to the same node. Reported: MB/s of Upload
// (from ns/op), scp-MB/s, x-scp (Upload's speed over scp's: 1.0 is parity)
// and upload-only-MB/s (a plain SFTP write of the file: no hash, no fsync).
//
//	go test -run '^$' -bench Upload64MiB -benchtime 5x ./rollout/remote
func BenchmarkUpload64MiB(b *testing.B) {
	if testing.Short() {
		b.Skip("starts a simulated cluster")
	}
	if _, err := exec.LookPath("scp"); err != nil {
		b.Skip("scp not installed")
	}
	c := startCluster(b, sim.SSHOpenSSH, 1)
	n := c.nodes[0]
	const size = 64 << 20
	local := writeRandom(b, b.TempDir(), size)
	f, _ := os.Open(local)
	h := sha256.New()
	io.Copy(h, f)
	f.Close()
	sum := hex.EncodeToString(h.Sum(nil))
	d, _ := newDialer(b, SSHOptions{})
	r := dial(b, d, n)
	dst := filepath.Join(n.Paths.BackupDir, "neuwerk.new")
	ctx := context.Background()

	// Warm up the page cache and the connection.
	if err := r.Upload(ctx, local, dst, 0o755, sum, nil); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := r.Upload(ctx, local, dst, 0o755, sum, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	ours := float64(size) * float64(b.N) / b.Elapsed().Seconds() / 1e6

	// The same file, to the same node, with scp (median of 3).
	port := strconv.Itoa(n.SSHPort)
	var scpTimes []time.Duration
	for i := 0; i < 3; i++ {
		cmd := exec.Command("scp", "-q", "-i", c.info.ClientKey,
			"-o", "UserKnownHostsFile="+n.KnownHosts, "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes",
			"-o", "IdentitiesOnly=yes", "-F", "none", "-P", port,
			local, n.User+"@"+n.Host+":"+filepath.Join(n.Paths.BackupDir, "scp-copy"))
		t0 := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("scp: %v\n%s", err, out)
		}
		scpTimes = append(scpTimes, time.Since(t0))
	}
	sort.Slice(scpTimes, func(i, j int) bool { return scpTimes[i] < scpTimes[j] })
	scp := float64(size) / scpTimes[1].Seconds() / 1e6

	// A plain SFTP write (what scp does), without verification or fsync.
	sc, done, err := r.(*sshRemote).sftpClient(ctx)
	if err != nil {
		b.Fatal(err)
	}
	var plain []time.Duration
	for i := 0; i < 3; i++ {
		src, _ := os.Open(local)
		t0 := time.Now()
		dstf, err := sc.Create(filepath.Join(n.Paths.BackupDir, "plain-copy"))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := dstf.ReadFromWithConcurrency(&uploadReader{ctx: ctx, r: src, total: size}, sftpConcurrency); err != nil {
			b.Fatal(err)
		}
		dstf.Close()
		plain = append(plain, time.Since(t0))
		src.Close()
	}
	done()
	sort.Slice(plain, func(i, j int) bool { return plain[i] < plain[j] })

	b.ReportMetric(scp, "scp-MB/s")
	b.ReportMetric(ours/scp, "x-scp")
	b.ReportMetric(float64(size)/plain[1].Seconds()/1e6, "upload-only-MB/s")
}
