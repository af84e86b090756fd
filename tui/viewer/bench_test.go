package viewer

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/nwroll/nwroll/health/sysdump"
	"github.com/nwroll/nwroll/tui/style"
)

const vtBenchSize = 200 << 20

// vtBenchSysdump returns a cluster sysdump of about size bytes, built
// once and kept under os.TempDir(): three nodes, each with one big
// incompressible journal and 400 small members. Nested archives are
// staged in files, so building it takes little memory.
func vtBenchSysdump(b *testing.B, size int64) string {
	b.Helper()
	path := filepath.Join(os.TempDir(), fmt.Sprintf("nwroll-viewer-bench-%dMiB-v1.tar.gz", size>>20))
	if st, err := os.Stat(path); err == nil && st.Size() > size*9/10 {
		return path
	}
	dir := b.TempDir()
	rng := rand.NewChaCha8([32]byte{7})
	ids := []string{vtIDA, vtIDB, "259059077657543621134331918787586352630"}
	var files []vtFile
	files = append(files, vtClusterFiles(nil, nil)[:4]...)
	for i, id := range ids {
		host := "fw-" + string(rune('a'+i))
		node := vtNodeFiles(fmt.Sprintf("00000000-0000-4000-8000-%012d", i), host, i)
		for j := range 400 {
			var body strings.Builder
			for k := range 20 + j%40 {
				fmt.Fprintf(&body, "%s small member %d line %d: value=%d\n", host, j, k, j*k)
			}
			node = append(node, vtFile{name: fmt.Sprintf("var/lib/neuwerk/state/item-%03d.txt", j), body: []byte(body.String())})
		}
		node = append(node, vtFile{name: "system/journal/neuwerk-service.big.log", src: rng, size: size / int64(len(ids))})
		nested := filepath.Join(dir, id+".tar.gz")
		if err := vtWriteTarGzFile(nested, node); err != nil {
			b.Fatal(err)
		}
		f, err := os.Open(nested)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		st, _ := f.Stat()
		files = append(files,
			vtFile{name: "nodes/" + id + "/meta.json", body: []byte(`{"node_id":"` + id + `","addr":"10.0.1.1:9600","role":"follower","state":null}`)},
			vtFile{name: sysdump.NodeArchivePath(id), src: f, size: st.Size()})
	}
	tmp := path + ".tmp" + strconv.Itoa(os.Getpid())
	if err := vtWriteTarGzFile(tmp, files); err != nil {
		b.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		b.Fatal(err)
	}
	return path
}

func vtWriteTarGzFile(path string, files []vtFile) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	if err := vtTarGz(w, gzip.BestSpeed, files); err != nil {
		f.Close()
		return err
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// vtPeakHeap samples HeapInuse until stopped and returns the largest.
func vtPeakHeap() (stop func() uint64) {
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		wg.Wait()
		return peak.Load()
	}
}

// vtVmHWM is the process's peak resident set from /proc/self/status, in
// bytes (0 where there is no /proc). It is process-wide: it includes the
// test binary and building the archive on a first run.
func vtVmHWM() uint64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// BenchmarkViewerOpen200MiB times New+Init until the overview is
// ready (overview-ms) and until the outer listing is in (ns/op), and
// reports the peak heap while doing so.
func BenchmarkViewerOpen200MiB(b *testing.B) {
	path := vtBenchSysdump(b, vtBenchSize)
	st, _ := os.Stat(path)
	styles := style.New(true, true)
	runtime.GC()
	stop := vtPeakHeap()
	var overview time.Duration
	n := 0
	b.SetBytes(st.Size())
	for b.Loop() {
		start := time.Now()
		v := New(styles, Options{Path: path, NodeNames: vtNames})
		v.SetSize(120, 40)
		v, _ = vtDriveEach(b, v, v.Init(), func(msg tea.Msg) {
			if _, ok := msg.(viewerHeadMsg); ok {
				overview += time.Since(start)
			}
		})
		n++
		if v.openErr != "" || v.overview.head.Overview == nil || v.overview.members != 10 {
			b.Fatalf("open: %q, %d members", v.openErr, v.overview.members)
		}
	}
	peak := stop()
	b.ReportMetric(float64(overview.Microseconds())/1000/float64(n), "overview-ms")
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(vtVmHWM())/(1<<20), "VmHWM-MiB")
	b.ReportMetric(float64(st.Size())/(1<<20), "archive-MiB")
}

// BenchmarkViewerSearch200MiB times a content search over the whole
// archive and expanding then reading the last node's big member.
func BenchmarkViewerSearch200MiB(b *testing.B) {
	path := vtBenchSysdump(b, vtBenchSize)
	styles := style.New(true, true)
	v := New(styles, Options{Path: path, NodeNames: vtNames})
	v.SetSize(120, 40)
	v, _ = vtDrive(b, v, v.Init())
	runtime.GC()
	stop := vtPeakHeap()
	for b.Loop() {
		v.clearSearch()
		w, cmd := v.startSearch("small member 399 line 5:")
		w, _ = vtDrive(b, w, cmd)
		if len(w.search.hits) != 3 {
			b.Fatalf("%d hits", len(w.search.hits))
		}
		if !bytes.Contains([]byte(w.content.plain[5]), []byte("line 5")) {
			b.Fatalf("hit not shown: %q", w.content.plain[:6])
		}
	}
	peak := stop()
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(vtVmHWM())/(1<<20), "VmHWM-MiB")
}
