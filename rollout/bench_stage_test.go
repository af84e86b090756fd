package rollout

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nwroll/nwroll/rollout/executor"
	"github.com/nwroll/nwroll/rollout/release"
)

// BenchmarkStage64MiB stages a 64 MiB release to 3 nodes in parallel and,
// in the same run, copies the same file with scp to the same nodes one
// after another (speedup-vs-scp: scp's time over staging's). As the 3
// parallel stagings share the machine's cores while the scp copies run one
// at a time, it also stages to the first node alone and compares that with
// the scp of the same file to the same node in the same iteration
// (speedup-vs-scp-1node, the figure issue 10 asks for).
//
//	go test ./rollout -run '^$' -bench BenchmarkStage64MiB -benchtime 3x
func BenchmarkStage64MiB(b *testing.B) {
	c, env := benchEnv(b, 3)
	ctx := context.Background()
	rel := bigRelease(b, 64<<20)
	x, err := executor.New(executor.Config{Inventory: env.Inventory, Dialer: env.Dialer, Release: rel, StateDir: env.StateDir})
	if err != nil {
		b.Fatal(err)
	}
	defer x.Close()
	if err := x.Connect(ctx); err != nil {
		b.Fatal(err)
	}
	names := x.NodeNames()
	bytes := float64(rel.Size) * float64(len(names))
	nodes := c.Info().Nodes
	var stage, scp, stage1, scp1 time.Duration
	b.SetBytes(int64(bytes))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if err := x.ForEach(names, func(n string) error { return x.Stage(ctx, n, rel.SHA256) }); err != nil {
			b.Fatal(err)
		}
		stage += time.Since(start)
		b.StopTimer()
		start = time.Now()
		for _, n := range nodes {
			t0 := time.Now()
			cmd := exec.Command("scp", "-q", "-i", n.ClientKey, "-o", "UserKnownHostsFile="+n.KnownHosts, "-o", "BatchMode=yes",
				"-P", "2222", rel.BinaryPath, fmt.Sprintf("%s@%s:%s", n.SSHUser, n.IP, n.Binary+".scp"))
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("scp to %s: %v\n%s", n.Name, err, out)
			}
			if n.Name == names[0] {
				scp1 += time.Since(t0)
			}
		}
		scp += time.Since(start)
		start = time.Now()
		if err := x.Stage(ctx, names[0], rel.SHA256); err != nil {
			b.Fatal(err)
		}
		stage1 += time.Since(start)
		b.StartTimer()
	}
	mbps := func(d time.Duration) float64 { return bytes * float64(b.N) / 1e6 / d.Seconds() }
	b.ReportMetric(mbps(stage), "stage-MB/s")
	b.ReportMetric(mbps(scp), "scp-seq-MB/s")
	b.ReportMetric(scp.Seconds()/stage.Seconds(), "speedup-vs-scp")
	b.ReportMetric(scp1.Seconds()/stage1.Seconds(), "speedup-vs-scp-1node")
}

// bigRelease writes a release whose binary is size random bytes.
func bigRelease(b *testing.B, size int) *release.Release {
	b.Helper()
	dir := b.TempDir()
	data := make([]byte, size)
	if _, err := rand.Read(data); err != nil {
		b.Fatal(err)
	}
	sum := sha256.Sum256(data)
	sha := hex.EncodeToString(sum[:])
	if err := os.WriteFile(filepath.Join(dir, release.BinaryName), data, 0o755); err != nil {
		b.Fatal(err)
	}
	m, _ := json.Marshal(release.Manifest{ReleaseVersion: "9.9.9-big", GitRevision: strings.Repeat("0", 40),
		Artifacts: []release.Artifact{{Path: release.BinaryName, Size: int64(size), SHA256: sha}}})
	if err := os.WriteFile(filepath.Join(dir, release.ManifestFile), m, 0o644); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, release.SumsFile), []byte(sha+"  "+release.BinaryName+"\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	r, err := release.Load(dir)
	if err != nil {
		b.Fatal(err)
	}
	return r
}
