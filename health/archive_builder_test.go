package health

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"testing"
	"time"
)

// tarFile is one member to write. body is used unless src is set, in
// which case size bytes are copied from src.
type tarFile struct {
	name string
	body []byte
	mode int64
	src  io.Reader
	size int64
}

var sysdumpTime = time.Date(2026, 4, 4, 10, 15, 30, 0, time.UTC)

// writeTarGz writes files as a gzip'd GNU tar, like Neuwerk's sysdump.
func writeTarGz(w io.Writer, level int, files []tarFile) error {
	zw, err := gzip.NewWriterLevel(w, level)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(zw)
	for _, f := range files {
		size := int64(len(f.body))
		if f.src != nil {
			size = f.size
		}
		mode := f.mode
		if mode == 0 {
			mode = 0o644
		}
		hdr := &tar.Header{Name: f.name, Mode: mode, Size: size, ModTime: sysdumpTime, Typeflag: tar.TypeReg, Format: tar.FormatGNU}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		src := f.src
		if src == nil {
			src = bytes.NewReader(f.body)
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

func tarGz(t testing.TB, files []tarFile) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := writeTarGz(&buf, gzip.DefaultCompression, files); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// nodeArchiveFiles lists a per-node sysdump's members in collection order
// (facts §4 and §13). journal, if non-nil, replaces the journal log.
func nodeArchiveFiles(nodeUUID, hostname string, journal *tarFile) []tarFile {
	cmd := func(c string) []byte {
		return []byte("$ " + c + "\nexit_status: 0\n--- stdout ---\nok\n--- stderr ---\n")
	}
	files := []tarFile{
		{name: "var/lib/neuwerk/bootstrap-token", body: []byte("redacted bootstrap token\n"), mode: 0o600},
		{name: "var/lib/neuwerk/cluster/raft.manifest.json", body: []byte(`[{"path":"000009.log","kind":"file","size":4096},{"path":"CURRENT","kind":"file","size":16}]`), mode: 0o600},
		{name: "var/lib/neuwerk/cluster/tls/ca.crt", body: []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"), mode: 0o600},
		{name: "var/lib/neuwerk/cluster/tls/node.crt", body: []byte("-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----\n"), mode: 0o600},
		{name: "var/lib/neuwerk/cluster/tls/node.key", body: []byte("redacted secret file: node.key\n"), mode: 0o600},
		{name: "var/lib/neuwerk/compliance/cis-waivers.txt", body: []byte("# none\n"), mode: 0o600},
		{name: "var/lib/neuwerk/http-tls/ca.crt", body: []byte("-----BEGIN CERTIFICATE-----\nMIID\n-----END CERTIFICATE-----\n"), mode: 0o600},
		{name: "var/lib/neuwerk/http-tls/node.crt", body: []byte("-----BEGIN CERTIFICATE-----\nMIIE\n-----END CERTIFICATE-----\n"), mode: 0o600},
		{name: "var/lib/neuwerk/http-tls/node.key", body: []byte("redacted secret file: node.key\n"), mode: 0o600},
		{name: "var/lib/neuwerk/local-policy-store/policy.json", body: []byte(`{"default_policy":"deny","source_groups":[]}`), mode: 0o600},
		{name: "var/lib/neuwerk/node_id", body: []byte(nodeUUID + "\n"), mode: 0o600},
		{name: "etc/hostname", body: []byte(hostname + "\n")},
		{name: "etc/hosts", body: []byte("127.0.0.1 localhost\n")},
		{name: "etc/resolv.conf", body: []byte("nameserver 10.0.0.2\n")},
		{name: "etc/os-release", body: []byte("PRETTY_NAME=\"Ubuntu 24.04 LTS\"\n")},
		{name: "etc/machine-id", body: []byte("0123456789abcdef0123456789abcdef\n")},
		{name: "etc/systemd/system/neuwerk.service", body: []byte("[Service]\nExecStart=/opt/neuwerk/bin/neuwerk\n")},
		{name: "proc/cmdline", body: []byte("BOOT_IMAGE=/vmlinuz\n")},
		{name: "proc/meminfo", body: []byte("MemTotal: 8000000 kB\n")},
		{name: "proc/uptime", body: []byte("1234.5 2345.6\n")},
		{name: "proc/net/route", body: []byte("Iface\tDestination\n")},
		{name: "proc/pressure/cpu", body: []byte("some avg10=0.00\n")},
		{name: "proc/sys/kernel/hostname", body: []byte(hostname + "\n")},
		{name: "sys/class/net/eth0.symlink.txt", body: []byte("symlink -> ../../devices/pci0000:00/net/eth0\n")},
		{name: "system/commands/systemctl-status-neuwerk.txt", body: cmd("systemctl status neuwerk.service --no-pager")},
		{name: "system/commands/systemctl-show-neuwerk.txt", body: cmd("systemctl show neuwerk.service")},
		{name: "system/journal/neuwerk-service.log", body: cmd("journalctl -u neuwerk.service --no-pager -n 2000")},
		{name: "system/commands/ip-addr.txt", body: cmd("ip addr")},
		{name: "system/commands/ip-route.txt", body: cmd("ip route show table all")},
		{name: "system/http/metrics-127.0.0.1-8080.prom", body: []byte("request failed: error sending request for url (http://127.0.0.1:8080/metrics)\n")},
		{name: "summary/state.json", body: []byte(`{"mode_guess":"cluster","node_id":"` + nodeUUID + `"}`)},
		{name: "summary/policies.json", body: []byte(`{"local":{"present":true,"default_policy":"deny","source_group_count":0},"cluster":null}`)},
		{name: "summary/audit.json", body: []byte(`{"finding_count":12}`)},
		{name: "summary/metrics.json", body: []byte(`{"attempts":[]}`)},
	}
	if journal != nil {
		for i := range files {
			if files[i].name == "system/journal/neuwerk-service.log" {
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
	return append(files, tarFile{name: "summary/manifest.json", body: []byte(manifest)})
}

func metaJSON(nodeID, addr, role, nodeUUID string) []byte {
	return []byte(fmt.Sprintf(`{"node_id":%q,"addr":%q,"role":%q,"state":{"generated_at":"2026-04-04T10:15:30.7Z","mode_guess":"cluster","node_id":%q,`+
		`"local_policy_count":1,"local_active_policy_id":null,"cluster_policy_count":1,"cluster_active_policy_id":null,`+
		`"local_service_account_count":0,"local_token_count":0,"cluster_service_account_count":2,"cluster_token_count":3,`+
		`"local_integration_count":0,"cluster_integration_count":0,"audit_finding_count":12,"cluster_present":true,"metrics_success_count":0}}`,
		nodeID, addr, role, nodeUUID))
}

// clusterSysdump builds the facts §13 cluster sysdump: taken through A,
// proxied to leader B, C unreachable. Nodes appear in numeric id order.
func clusterSysdump(t testing.TB) []byte {
	t.Helper()
	return tarGz(t, clusterSysdumpFiles(t,
		tarGz(t, nodeArchiveFiles("3f1c2a9e-7b4d-4e2a-9c1f-5a6b7c8d9e0f", "fw-a", nil)),
		tarGz(t, nodeArchiveFiles("8a7d5c21-0e4b-4f3a-b2d1-9c8e7f6a5b40", "fw-b", nil))))
}

func clusterSysdumpFiles(t testing.TB, nodeA, nodeB []byte) []tarFile {
	membership := fmt.Sprintf(`{"current_term":7,"voted_for":%q,"vote_committed":true,"last_log_index":1550,"last_purged_index":0,`+
		`"last_applied_index":1550,"membership_log_index":3,"joint_configs":[[%q,%q,%q]],"voter_count":3,"node_count":3,"nodes":[]}`, idB, idA, idB, idC)
	return []tarFile{
		{name: SysdumpManifestPath, body: fixture(t, "sysdump_manifest.json")},
		{name: SysdumpOverviewPath, body: fixture(t, "sysdump_overview.json")},
		{name: SysdumpFailuresPath, body: fixture(t, "sysdump_failures.json")},
		{name: SysdumpMembershipPath, body: []byte(membership)},
		{name: NodeMetaPath(idA), body: metaJSON(idA, "10.0.1.11:9600", "follower", "3f1c2a9e-7b4d-4e2a-9c1f-5a6b7c8d9e0f")},
		{name: NodeArchivePath(idA), body: nodeA},
		{name: NodeMetaPath(idB), body: metaJSON(idB, "10.0.1.12:9600", "leader", "8a7d5c21-0e4b-4f3a-b2d1-9c8e7f6a5b40")},
		{name: NodeArchivePath(idB), body: nodeB},
	}
}
