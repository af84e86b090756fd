package node

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/hashicorp/raft"
	"github.com/nwroll/nwroll/health"
)

func TestConfigStrict(t *testing.T) {
	cfg := NodeConfig("/srv/nodes/fw-b", "127.0.9.12", "127.0.9.11")
	data, err := cfg.Marshal()
	must(t, err)
	back, err := ParseConfig(data)
	if err != nil || back != cfg {
		t.Fatalf("round trip: %v\n%+v\n%+v", err, back, cfg)
	}
	if cfg.Cluster.JoinSeed != "127.0.9.11:9601" || cfg.HTTP.TLSDir != "/srv/nodes/fw-b/var/lib/neuwerk/http-tls" {
		t.Errorf("NodeConfig = %+v", cfg)
	}
	seed, _ := NodeConfig("/r", "127.0.9.11", "").Marshal()
	if strings.Contains(string(seed), "join_seed") {
		t.Errorf("seed config has join_seed:\n%s", seed)
	}
	bad := map[string]string{
		"unknown key":     strings.Replace(string(data), "tls_dir:", "tls_dirs:", 1),
		"unknown section": string(data) + "dataplane:\n  mode: dpdk\n",
		"version 2":       strings.Replace(string(data), "version: 1", "version: 2", 1),
		"no version":      strings.Replace(string(data), "version: 1\n", "", 1),
		"relative path":   strings.Replace(string(data), "/srv/nodes/fw-b/var/lib/neuwerk/node_id", "node_id", 1),
		"host name":       strings.Replace(string(data), "bind: 127.0.9.12:8080", "bind: fw-b:8080", 1),
		"empty":           "",
	}
	for name, text := range bad {
		if _, err := ParseConfig([]byte(text)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	minimal := "version: 1\nhttp: {bind: 10.0.0.1:8443, tls_dir: /t}\nmetrics: {bind: 10.0.0.1:8080}\n" +
		"cluster: {bind: 10.0.0.1:9600, data_dir: /d, node_id_path: /n, token_path: /k}\n"
	c, err := ParseConfig([]byte(minimal))
	if err != nil || c.HTTP.Advertise != "10.0.0.1:8443" || c.Cluster.JoinBind != "10.0.0.1:9601" || c.Cluster.Advertise != "10.0.0.1:9600" {
		t.Errorf("defaults: %+v %v", c, err)
	}
	if c.MinVoters() != 3 {
		t.Errorf("default min_voters %d, want 3", c.MinVoters())
	}
	c, err = ParseConfig([]byte(minimal + "integration:\n  mode: aws-asg\n  aws: {region: us-east-1, asg_name: g}\n  membership: {min_voters: 2}\n"))
	if err != nil || c.MinVoters() != 2 || c.Integration.Mode != "aws-asg" {
		t.Errorf("integration.membership.min_voters 2: %+v %v", c.Integration, err)
	}
	in := c.Integration
	if in.ReconcileInterval() != 15*time.Second || in.DrainTimeout() != 300*time.Second || !in.AutoEvict() ||
		in.TagCluster() != "neuwerk" || in.Membership.StaleAfterSecs != 0 {
		t.Errorf("integration defaults: %+v", in)
	}
	c, err = ParseConfig([]byte(minimal + "integration:\n  mode: aws-asg\n  cluster_name: sim-4\n  aws: {region: us-east-1, asg_name: g}\n" +
		"  reconcile_interval_secs: 2\n  drain_timeout_secs: 60\n  membership: {auto_evict_terminating: false, stale_after_secs: 30}\n"))
	if in := c.Integration; err != nil || in.ReconcileInterval() != 2*time.Second || in.DrainTimeout() != time.Minute ||
		in.AutoEvict() || in.TagCluster() != "sim-4" || in.Membership.StaleAfterSecs != 30 || in.AWS.ASGName != "g" {
		t.Errorf("integration settings: %+v %v", c.Integration, err)
	}
	for _, text := range []string{
		"integration:\n  mode: aws-asg\n  aws: {region: us-east-1}\n",
		"integration:\n  mode: gcp-mig\n",
		"integration:\n  mode: aws\n",
		"integration:\n  mode: aws-asg\n  aws: {region: r, asg_name: g}\n  reconcile_interval_secs: -1\n",
		"integration:\n  mode: aws-asg\n  aws: {region: r, asg_name: g, subnet: s}\n",
	} {
		if _, err := ParseConfig([]byte(minimal + text)); err == nil {
			t.Errorf("accepted:\n%s", text)
		}
	}
	if _, err := ParseConfig([]byte(minimal + "integration:\n  membership: {min_votes: 2}\n")); err == nil {
		t.Error("integration.membership.min_votes accepted")
	}
}

func TestSimSettingsJoinViaFollower(t *testing.T) {
	dir := t.TempDir()
	p, err := NewPeer("fw-a", "127.0.9.11", newUUID())
	must(t, err)
	for value, ok := range map[string]bool{"": true, JoinStuck: true, JoinForward: true, "leader": false} {
		data, err := SimSettings{Cluster: "c", Name: "fw-a", Peers: []Peer{p}, Dynamic: true, JoinViaFollower: value}.Marshal()
		must(t, err)
		path := filepath.Join(dir, "sim-node.json")
		must(t, os.WriteFile(path, data, 0o644))
		s, err := LoadSimSettings(path)
		if (err == nil) != ok || (ok && (!s.Dynamic || s.JoinViaFollower != value)) {
			t.Errorf("join_via_follower %q: %+v %v", value, s, err)
		}
	}
}

func TestVerifyToken(t *testing.T) {
	keys, err := GenerateAPIKeyset()
	must(t, err)
	other, err := GenerateAPIKeyset()
	must(t, err)
	now := time.Now()
	kid, priv, err := keys.signingKey()
	must(t, err)
	sign := func(claims jwt.MapClaims, kid string) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
		tok.Header["kid"] = kid
		s, err := tok.SignedString(priv)
		must(t, err)
		return s
	}
	base := func() jwt.MapClaims {
		return jwt.MapClaims{"iss": apiIssuer, "aud": apiIssuer, "sub": "x", "exp": now.Add(time.Hour).Unix(), "iat": now.Unix()}
	}
	with := func(k string, v any) jwt.MapClaims {
		c := base()
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	foreign, err := MintToken(other, "x", nil, time.Hour, now)
	must(t, err)
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, base())
	hs.Header["kid"] = kid
	hsTok, err := hs.SignedString([]byte("secret"))
	must(t, err)

	cases := []struct {
		name, token, want string
	}{
		{"valid", sign(base(), kid), ""},
		{"expired within leeway", sign(with("exp", now.Add(-30*time.Second).Unix()), kid), ""},
		{"expired beyond leeway", sign(with("exp", now.Add(-2*time.Minute).Unix()), kid), "invalid bearer token"},
		{"no exp", sign(with("exp", nil), kid), "missing jwt exp"},
		{"wrong audience", sign(with("aud", "other"), kid), "invalid bearer token"},
		{"wrong issuer", sign(with("iss", "other"), kid), "invalid bearer token"},
		{"unknown kid", foreign, "unknown jwt kid"},
		{"no kid", sign(base(), ""), "unknown jwt kid"},
		{"hmac", hsTok, "invalid bearer token"},
		{"garbage", "a.b.c", "invalid bearer token"},
	}
	for _, tc := range cases {
		_, fail := verifyToken(keys, tc.token, now)
		got := ""
		if fail != nil {
			got = fail.msg
			if fail.status != 401 {
				t.Errorf("%s: status %d", tc.name, fail.status)
			}
		}
		if got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
	retired := keys
	retired.Keys = append([]APIKey(nil), keys.Keys...)
	retired.Keys[0].Status = "retired"
	if _, fail := verifyToken(retired, sign(base(), kid), now); fail == nil || fail.msg != "jwt key retired" {
		t.Errorf("retired key: %+v", fail)
	}
}

func TestBootstrapTokens(t *testing.T) {
	dir := t.TempDir()
	tokens, err := NewBootstrapTokens()
	must(t, err)
	data, err := tokens.Marshal()
	must(t, err)
	path := dir + "/bootstrap-token"
	must(t, writeFileMode(path, data, 0o640))
	if _, err := LoadBootstrapTokens(path); !errors.Is(err, ErrTokenPermissions) {
		t.Errorf("0640: %v", err)
	}
	must(t, writeFileMode(path, data, 0o400))
	got, err := LoadBootstrapTokens(path)
	must(t, err)
	secret, err := got.Tokens[0].Secret()
	if err != nil || len(secret) != 32 {
		t.Errorf("secret %d bytes, %v", len(secret), err)
	}
	future := time.Now().Add(time.Hour)
	got.Tokens[0].ValidFrom = &future
	if _, err := got.Current(time.Now()); err == nil {
		t.Errorf("a token valid from the future was accepted")
	}
	if _, err := (BootstrapToken{Token: "plain"}).Secret(); err == nil {
		t.Errorf("token without prefix accepted")
	}
}

type memSink struct{ bytes.Buffer }

func (m *memSink) ID() string    { return "mem" }
func (m *memSink) Cancel() error { return nil }
func (m *memSink) Close() error  { return nil }

func TestFSMSnapshotAndStall(t *testing.T) {
	f := newKVFSM()
	apply := func(i uint64, c string) {
		if r := f.Apply(&raft.Log{Index: i, Type: raft.LogCommand, Data: []byte(c)}); r != nil {
			t.Fatalf("apply %s: %v", c, r)
		}
	}
	apply(1, `{"op":"set","key":"policy/state","value":{"generation":1,"default_policy":"deny","source_groups":[]}}`)
	apply(2, `{"op":"tick","at":1}`)
	apply(3, `{"op":"tick","at":2}`)
	snap, err := f.Snapshot()
	must(t, err)
	var sink memSink
	must(t, snap.Persist(&sink))

	g := newKVFSM()
	must(t, g.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))))
	raw, ok := g.get(policyKey)
	if !ok || g.ticks != 2 {
		t.Fatalf("restored: ok=%v ticks=%d", ok, g.ticks)
	}
	if p, err := parsePolicy(raw); err != nil || p.DefaultPolicy != "deny" {
		t.Errorf("restored policy %s: %v", raw, err)
	}

	g.stall()
	g.Apply(&raft.Log{Index: 4, Type: raft.LogCommand, Data: []byte(`{"op":"tick"}`)})
	if g.ticks != 2 || g.skipped.Load() != 1 {
		t.Errorf("stalled FSM applied: ticks %d skipped %d", g.ticks, g.skipped.Load())
	}
	if _, err := g.Snapshot(); err == nil {
		t.Errorf("stalled FSM produced a snapshot")
	}
}

func TestPeerTransportProgress(t *testing.T) {
	m := newNodeMetrics(gaugeReaders{
		isLeader: zero, currentTerm: zero, lastLogIndex: zero, lastApplied: zero,
		natUtilization: zero, leaseActive: zero, leaseExpiry: zero,
	})
	tr := newPeerTransport(nil, m)
	now := time.Now()
	entries := []*raft.Log{{Index: 11}, {Index: 12}}
	tr.recordAck("b", &raft.AppendEntriesRequest{Term: 3, PrevLogEntry: 10, Entries: entries}, now.Add(-time.Second))
	tr.recordAck("c", &raft.AppendEntriesRequest{Term: 3}, now.Add(-3*time.Second)) // heartbeat only

	if got, ok := tr.matched("b", 3); !ok || got != 12 {
		t.Errorf("matched b = %d %v, want 12", got, ok)
	}
	// An older batch acked after it (sent again after a backoff) does not
	// take the match back.
	tr.recordAck("b", &raft.AppendEntriesRequest{Term: 3, PrevLogEntry: 10, Entries: entries[:1]}, now.Add(-time.Second))
	if got, _ := tr.matched("b", 3); got != 12 {
		t.Errorf("matched b = %d after an older ack, want 12", got)
	}
	if _, ok := tr.matched("c", 3); ok {
		t.Errorf("a heartbeat set a matched index")
	}
	if _, ok := tr.matched("b", 4); ok {
		t.Errorf("matched index survived into a new term")
	}
	voters := []raft.ServerID{"a", "b", "c"}
	if at, ok := tr.quorumAck(voters, "a", 3, now); !ok || !at.Equal(now.Add(-time.Second)) {
		t.Errorf("quorum ack = %v %v, want 1s ago", at, ok)
	}
	if _, ok := tr.quorumAck(voters, "a", 4, now); ok {
		t.Errorf("quorum ack from an old term")
	}
	tr.recordAck("b", &raft.AppendEntriesRequest{Term: 4}, now)
	if _, ok := tr.matched("b", 4); ok {
		t.Errorf("new-term heartbeat produced a matched index")
	}

	kinds := map[string]error{
		"timeout":   &net.OpError{Op: "dial", Err: timeoutErr{}},
		"transport": &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED},
		"other":     errors.New("unexpected response"),
	}
	for want, err := range kinds {
		if got := errorKind(err); got != want {
			t.Errorf("errorKind(%v) = %s, want %s", err, got, want)
		}
	}
	if errorKind(io.EOF) != "transport" {
		t.Errorf("EOF is not a transport error")
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func zero() float64 { return 0 }

func TestRedact(t *testing.T) {
	out, ok := redact("api-auth.json", []byte(`{"active_kid":"k","keys":[{"kid":"k","public_key":"pub","private_key":"secret"}]}`))
	if !ok || strings.Contains(string(out), "secret") || !strings.Contains(string(out), `"private_key": "<redacted>"`) || !strings.Contains(string(out), "pub") {
		t.Errorf("api-auth.json redaction: %s", out)
	}
	if out, ok := redact("ca.key", []byte("KEY")); !ok || string(out) != "redacted secret file: ca.key\n" {
		t.Errorf("ca.key: %q", out)
	}
	if _, ok := redact("node.crt", []byte("CERT")); ok {
		t.Errorf("node.crt redacted")
	}
}

func TestLessNodeID(t *testing.T) {
	a := "83887612463901818417196338898998763023"
	b := "184084369126271976562412313366005177152"
	if !lessNodeID(a, b) || lessNodeID(b, a) || !(b < a) {
		t.Errorf("numeric vs string order of facts §13 ids")
	}
	id, err := health.NodeIDFromUUID("8a7d5c21-0e4b-4f3a-b2d1-9c8e7f6a5b40")
	if err != nil || id != b {
		t.Errorf("NodeIDFromUUID = %s", id)
	}
}
