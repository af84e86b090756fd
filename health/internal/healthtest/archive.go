package healthtest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"testing"
	"time"
)

// TarFile is one member to write. Body is used unless Src is set, in
// which case Size bytes are copied from Src.
type TarFile struct {
	Name string
	Body []byte
	Mode int64
	Src  io.Reader
	Size int64
}

var sysdumpTime = time.Date(2026, 4, 4, 10, 15, 30, 0, time.UTC)

// WriteTarGz writes files as a gzip'd GNU tar, like Neuwerk's sysdump.
func WriteTarGz(w io.Writer, level int, files []TarFile) error {
	zw, err := gzip.NewWriterLevel(w, level)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(zw)
	for _, f := range files {
		size := int64(len(f.Body))
		if f.Src != nil {
			size = f.Size
		}
		mode := f.Mode
		if mode == 0 {
			mode = 0o644
		}
		hdr := &tar.Header{Name: f.Name, Mode: mode, Size: size, ModTime: sysdumpTime, Typeflag: tar.TypeReg, Format: tar.FormatGNU}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		src := f.Src
		if src == nil {
			src = bytes.NewReader(f.Body)
		}
		if _, err := io.CopyN(tw, src, size); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return zw.Close()
}

// TarGz is files as a gzip'd GNU tar.
func TarGz(t testing.TB, files []TarFile) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteTarGz(&buf, gzip.DefaultCompression, files); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// NodeArchiveFiles lists a per-node sysdump's members in collection order
// (facts §4 and §13). journal, if non-nil, replaces the journal log.
func NodeArchiveFiles(nodeUUID, hostname string, journal *TarFile) []TarFile {
	cmd := func(c string) []byte {
		return []byte("$ " + c + "\nexit_status: 0\n--- stdout ---\nok\n--- stderr ---\n")
	}
	files := []TarFile{
		{Name: "var/lib/neuwerk/bootstrap-token", Body: []byte("redacted bootstrap token\n"), Mode: 0o600},
		{Name: "var/lib/neuwerk/cluster/raft.manifest.json", Body: []byte(`[{"path":"000009.log","kind":"file","size":4096},{"path":"CURRENT","kind":"file","size":16}]`), Mode: 0o600},
		{Name: "var/lib/neuwerk/cluster/tls/ca.crt", Body: []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"), Mode: 0o600},
		{Name: "var/lib/neuwerk/cluster/tls/node.crt", Body: []byte("-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----\n"), Mode: 0o600},
		{Name: "var/lib/neuwerk/cluster/tls/node.key", Body: []byte("redacted secret file: node.key\n"), Mode: 0o600},
		{Name: "var/lib/neuwerk/compliance/cis-waivers.txt", Body: []byte("# none\n"), Mode: 0o600},
		{Name: "var/lib/neuwerk/http-tls/ca.crt", Body: []byte("-----BEGIN CERTIFICATE-----\nMIID\n-----END CERTIFICATE-----\n"), Mode: 0o600},
		{Name: "var/lib/neuwerk/http-tls/node.crt", Body: []byte("-----BEGIN CERTIFICATE-----\nMIIE\n-----END CERTIFICATE-----\n"), Mode: 0o600},
		{Name: "var/lib/neuwerk/http-tls/node.key", Body: []byte("redacted secret file: node.key\n"), Mode: 0o600},
		{Name: "var/lib/neuwerk/local-policy-store/policy.json", Body: []byte(`{"default_policy":"deny","source_groups":[]}`), Mode: 0o600},
		{Name: "var/lib/neuwerk/node_id", Body: []byte(nodeUUID + "\n"), Mode: 0o600},
		{Name: "etc/hostname", Body: []byte(hostname + "\n")},
		{Name: "etc/hosts", Body: []byte("127.0.0.1 localhost\n")},
		{Name: "etc/resolv.conf", Body: []byte("nameserver 10.0.0.2\n")},
		{Name: "etc/os-release", Body: []byte("PRETTY_NAME=\"Ubuntu 24.04 LTS\"\n")},
		{Name: "etc/machine-id", Body: []byte("0123456789abcdef0123456789abcdef\n")},
		{Name: "etc/systemd/system/neuwerk.service", Body: []byte("[Service]\nExecStart=/opt/neuwerk/bin/neuwerk\n")},
		{Name: "proc/cmdline", Body: []byte("BOOT_IMAGE=/vmlinuz\n")},
		{Name: "proc/meminfo", Body: []byte("MemTotal: 8000000 kB\n")},
		{Name: "proc/uptime", Body: []byte("1234.5 2345.6\n")},
		{Name: "proc/net/route", Body: []byte("Iface\tDestination\n")},
		{Name: "proc/pressure/cpu", Body: []byte("some avg10=0.00\n")},
		{Name: "proc/sys/kernel/hostname", Body: []byte(hostname + "\n")},
		{Name: "sys/class/net/eth0.symlink.txt", Body: []byte("symlink -> ../../devices/pci0000:00/net/eth0\n")},
		{Name: "system/commands/systemctl-status-neuwerk.txt", Body: cmd("systemctl status neuwerk.service --no-pager")},
		{Name: "system/commands/systemctl-show-neuwerk.txt", Body: cmd("systemctl show neuwerk.service")},
		{Name: "system/journal/neuwerk-service.log", Body: cmd("journalctl -u neuwerk.service --no-pager -n 2000")},
		{Name: "system/commands/ip-addr.txt", Body: cmd("ip addr")},
		{Name: "system/commands/ip-route.txt", Body: cmd("ip route show table all")},
		{Name: "system/http/metrics-127.0.0.1-8080.prom", Body: []byte("request failed: error sending request for url (http://127.0.0.1:8080/metrics)\n")},
		{Name: "summary/state.json", Body: []byte(`{"mode_guess":"cluster","node_id":"` + nodeUUID + `"}`)},
		{Name: "summary/policies.json", Body: []byte(`{"local":{"present":true,"default_policy":"deny","source_group_count":0},"cluster":null}`)},
		{Name: "summary/audit.json", Body: []byte(`{"finding_count":12}`)},
		{Name: "summary/metrics.json", Body: []byte(`{"attempts":[]}`)},
	}
	if journal != nil {
		for i := range files {
			if files[i].Name == "system/journal/neuwerk-service.log" {
				files[i] = *journal
			}
		}
	}
	manifest := fmt.Sprintf(`{"generated_at":"2026-04-04T10:15:30.7Z","entries":[`+
		`{"kind":"path","source":"/var/lib/neuwerk","archive_path":"var/lib/neuwerk","status":"ok","note":null},`+
		`{"kind":"path","source":"/etc/default/neuwerk","archive_path":"etc/default/neuwerk","status":"missing","note":null},`+
		`{"kind":"command","source":"systemctl status neuwerk.service --no-pager","archive_path":"system/commands/systemctl-status-neuwerk.txt","status":"ok","note":null},`+
		`{"kind":"http","source":"http://127.0.0.1:8080/metrics","archive_path":"system/http/metrics-127.0.0.1-8080.prom","status":"request-failed","note":"connection refused"},`+
		`{"kind":"summary","source":"%s","archive_path":"summary/state.json","status":"ok","note":null}]}`, hostname)
	return append(files, TarFile{Name: "summary/manifest.json", Body: []byte(manifest)})
}

func metaJSON(nodeID, addr, role, nodeUUID string) []byte {
	return []byte(fmt.Sprintf(`{"node_id":%q,"addr":%q,"role":%q,"state":{"generated_at":"2026-04-04T10:15:30.7Z","mode_guess":"cluster","node_id":%q,`+
		`"local_policy_count":1,"local_active_policy_id":null,"cluster_policy_count":1,"cluster_active_policy_id":null,`+
		`"local_service_account_count":0,"local_token_count":0,"cluster_service_account_count":2,"cluster_token_count":3,`+
		`"local_integration_count":0,"cluster_integration_count":0,"audit_finding_count":12,"cluster_present":true,"metrics_success_count":0}}`,
		nodeID, addr, role, nodeUUID))
}

// ClusterSysdump builds the facts §13 cluster sysdump: taken through A,
// proxied to leader B, C unreachable. Nodes appear in numeric id order.
func ClusterSysdump(t testing.TB) []byte {
	t.Helper()
	return TarGz(t, ClusterSysdumpFiles(t,
		TarGz(t, NodeArchiveFiles("3f1c2a9e-7b4d-4e2a-9c1f-5a6b7c8d9e0f", "fw-a", nil)),
		TarGz(t, NodeArchiveFiles("8a7d5c21-0e4b-4f3a-b2d1-9c8e7f6a5b40", "fw-b", nil))))
}

// ClusterSysdumpFiles lists the members of ClusterSysdump with nodeA and
// nodeB as the nested archives of A and B. The member paths are spelled out
// as Neuwerk writes them rather than taken from the archive reader, whose
// own tests use this builder.
func ClusterSysdumpFiles(t testing.TB, nodeA, nodeB []byte) []TarFile {
	membership := fmt.Sprintf(`{"current_term":7,"voted_for":%q,"vote_committed":true,"last_log_index":1550,"last_purged_index":0,`+
		`"last_applied_index":1550,"membership_log_index":3,"joint_configs":[[%q,%q,%q]],"voter_count":3,"node_count":3,"nodes":[]}`, IDB, IDA, IDB, IDC)
	return []TarFile{
		{Name: "manifest.json", Body: Fixture(t, "sysdump_manifest.json")},
		{Name: "cluster/overview.json", Body: Fixture(t, "sysdump_overview.json")},
		{Name: "cluster/failures.json", Body: Fixture(t, "sysdump_failures.json")},
		{Name: "cluster/membership.json", Body: []byte(membership)},
		{Name: "nodes/" + IDA + "/meta.json", Body: metaJSON(IDA, "10.0.1.11:9600", "follower", "3f1c2a9e-7b4d-4e2a-9c1f-5a6b7c8d9e0f")},
		{Name: "nodes/" + IDA + "/sysdump.tar.gz", Body: nodeA},
		{Name: "nodes/" + IDB + "/meta.json", Body: metaJSON(IDB, "10.0.1.12:9600", "leader", "8a7d5c21-0e4b-4f3a-b2d1-9c8e7f6a5b40")},
		{Name: "nodes/" + IDB + "/sysdump.tar.gz", Body: nodeB},
	}
}
