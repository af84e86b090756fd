// Package node is the simulated `neuwerk` binary: everything that runs as one
// Neuwerk node (daemon, CLI, HTTPS API, metrics, Raft). docs/sim.md describes
// the layout; neuwerk-facts.md describes the behaviour it copies.
//
// This file holds the formats of the files the host side writes into a node's
// root and the daemon reads, so both sides share one definition.
package node

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/nwroll/nwroll/health"
	"gopkg.in/yaml.v3"
)

// Ports every simulated node uses on its own IP (facts §12, docs/sim.md).
const (
	HTTPPort    = 8443
	MetricsPort = 8080
	RaftPort    = 9600
	JoinPort    = 9601
)

// NodePaths are the well-known host paths inside one node's root directory.
type NodePaths struct {
	Root           string
	Config         string // etc/neuwerk/config.yaml
	SimSettings    string // etc/neuwerk/sim-node.json
	DataRoot       string // var/lib/neuwerk
	NodeID         string // var/lib/neuwerk/node_id
	BootstrapToken string // var/lib/neuwerk/bootstrap-token
	HTTPTLSDir     string // var/lib/neuwerk/http-tls
	APIAuth        string // var/lib/neuwerk/http-tls/api-auth.json
	ClusterDir     string // var/lib/neuwerk/cluster
	ClusterTLSDir  string // var/lib/neuwerk/cluster/tls
	RaftDir        string // var/lib/neuwerk/cluster/raft
	LogFile        string // var/log/neuwerk.log (the service's journal)
	BinDir         string // opt/neuwerk/bin
	BackupDir      string // var/backups/neuwerk
}

// PathsFor returns the well-known paths under a node root.
func PathsFor(root string) NodePaths {
	data := filepath.Join(root, "var", "lib", "neuwerk")
	cluster := filepath.Join(data, "cluster")
	return NodePaths{
		Root:           root,
		Config:         filepath.Join(root, "etc", "neuwerk", "config.yaml"),
		SimSettings:    filepath.Join(root, "etc", "neuwerk", "sim-node.json"),
		DataRoot:       data,
		NodeID:         filepath.Join(data, "node_id"),
		BootstrapToken: filepath.Join(data, "bootstrap-token"),
		HTTPTLSDir:     filepath.Join(data, "http-tls"),
		APIAuth:        filepath.Join(data, "http-tls", "api-auth.json"),
		ClusterDir:     cluster,
		ClusterTLSDir:  filepath.Join(cluster, "tls"),
		RaftDir:        filepath.Join(cluster, "raft"),
		LogFile:        filepath.Join(root, "var", "log", "neuwerk.log"),
		BinDir:         filepath.Join(root, "opt", "neuwerk", "bin"),
		BackupDir:      filepath.Join(root, "var", "backups", "neuwerk"),
	}
}

// RootFromSelf returns the node root for a launcher path such as
// <root>/opt/neuwerk/bin/neuwerk (or .new/.prev beside it).
func RootFromSelf(self string) string {
	return filepath.Dir(filepath.Dir(filepath.Dir(filepath.Dir(self))))
}

// ---------------------------------------------------------------------------
// config.yaml

// Config is Neuwerk's strict /etc/neuwerk/config.yaml (version 1), restricted
// to the keys the simulator understands. Paths are absolute host paths.
type Config struct {
	Version int           `yaml:"version"`
	HTTP    HTTPConfig    `yaml:"http"`
	Metrics MetricsConfig `yaml:"metrics"`
	Cluster ClusterConfig `yaml:"cluster"`
	// Integration is Neuwerk's cloud integration (integration.go): with
	// mode aws-asg the leader reconciles the Auto Scaling group.
	Integration IntegrationConfig `yaml:"integration,omitempty"`
}

// Integration modes the simulator runs (all of Neuwerk's).
const (
	IntegrationAWSASG    = "aws-asg"
	IntegrationAzureVMSS = "azure-vmss"
	IntegrationGCPMIG    = "gcp-mig"
)

// IntegrationConfig is the `integration` section, as far as the simulator
// reads it.
type IntegrationConfig struct {
	Mode string `yaml:"mode,omitempty"` // "" (standalone), aws-asg, azure-vmss or gcp-mig
	// ClusterName is the neuwerk.io/cluster tag value discovery matches
	// (default "neuwerk").
	ClusterName           string           `yaml:"cluster_name,omitempty"`
	AWS                   AWSConfig        `yaml:"aws,omitempty"`
	Azure                 AzureConfig      `yaml:"azure,omitempty"`
	GCP                   GCPConfig        `yaml:"gcp,omitempty"`
	ReconcileIntervalSecs int              `yaml:"reconcile_interval_secs,omitempty"` // default 15
	DrainTimeoutSecs      int              `yaml:"drain_timeout_secs,omitempty"`      // default 300
	Membership            MembershipConfig `yaml:"membership,omitempty"`
}

// AWSConfig is `integration.aws`.
type AWSConfig struct {
	Region  string `yaml:"region,omitempty"`
	VPCID   string `yaml:"vpc_id,omitempty"`
	ASGName string `yaml:"asg_name,omitempty"`
}

// AzureConfig is `integration.azure`.
type AzureConfig struct {
	SubscriptionID string `yaml:"subscription_id,omitempty"`
	ResourceGroup  string `yaml:"resource_group,omitempty"`
	VMSSName       string `yaml:"vmss_name,omitempty"`
}

// GCPConfig is `integration.gcp` (a regional managed instance group).
type GCPConfig struct {
	Project string `yaml:"project,omitempty"`
	Region  string `yaml:"region,omitempty"`
	IGName  string `yaml:"ig_name,omitempty"`
}

// MembershipConfig is `integration.membership`.
type MembershipConfig struct {
	// AutoEvictTerminating lets the leader evict drained terminating
	// voters (default true).
	AutoEvictTerminating *bool `yaml:"auto_evict_terminating,omitempty"`
	// MinVoters is the floor a member removal without force keeps (default 3).
	MinVoters int `yaml:"min_voters,omitempty"`
	// StaleAfterSecs: a member missing from discovery this long is
	// evicted; 0 (the default) never.
	StaleAfterSecs int `yaml:"stale_after_secs,omitempty"`
}

// Defaults of the integration section (facts §9).
const (
	DefaultMinVoters             = 3
	DefaultReconcileIntervalSecs = 15
	DefaultDrainTimeoutSecs      = 300
	DefaultIntegrationCluster    = "neuwerk"
)

// MinVoters is integration.membership.min_voters, or its default.
func (c Config) MinVoters() int {
	if c.Integration.Membership.MinVoters > 0 {
		return c.Integration.Membership.MinVoters
	}
	return DefaultMinVoters
}

// ReconcileInterval is integration.reconcile_interval_secs, or its default.
func (i IntegrationConfig) ReconcileInterval() time.Duration {
	return secsOr(i.ReconcileIntervalSecs, DefaultReconcileIntervalSecs)
}

// DrainTimeout is integration.drain_timeout_secs, or its default.
func (i IntegrationConfig) DrainTimeout() time.Duration {
	return secsOr(i.DrainTimeoutSecs, DefaultDrainTimeoutSecs)
}

// AutoEvict is integration.membership.auto_evict_terminating (default true).
func (i IntegrationConfig) AutoEvict() bool {
	return i.Membership.AutoEvictTerminating == nil || *i.Membership.AutoEvictTerminating
}

// TagCluster is the neuwerk.io/cluster value discovery matches.
func (i IntegrationConfig) TagCluster() string {
	if i.ClusterName != "" {
		return i.ClusterName
	}
	return DefaultIntegrationCluster
}

func secsOr(secs, def int) time.Duration {
	if secs > 0 {
		return time.Duration(secs) * time.Second
	}
	return time.Duration(def) * time.Second
}

// HTTPConfig is the `http` section.
type HTTPConfig struct {
	Bind      string `yaml:"bind"`
	Advertise string `yaml:"advertise,omitempty"`
	TLSDir    string `yaml:"tls_dir"`
}

// MetricsConfig is the `metrics` section.
type MetricsConfig struct {
	Bind string `yaml:"bind"`
}

// ClusterConfig is the `cluster` section. JoinSeed is absent on the seed.
type ClusterConfig struct {
	Bind       string `yaml:"bind"`
	Advertise  string `yaml:"advertise,omitempty"`
	JoinBind   string `yaml:"join_bind,omitempty"`
	JoinSeed   string `yaml:"join_seed,omitempty"`
	DataDir    string `yaml:"data_dir"`
	NodeIDPath string `yaml:"node_id_path"`
	TokenPath  string `yaml:"token_path"`
}

// LoadConfig reads and validates a config.yaml.
func LoadConfig(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read runtime config: %w", err)
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// ParseConfig decodes config.yaml strictly (unknown keys are errors, like
// Neuwerk's deny_unknown_fields), fills defaults and validates it.
func ParseConfig(data []byte) (Config, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var cfg Config
	if err := dec.Decode(&cfg); err != nil {
		if errors.Is(err, io.EOF) {
			return Config{}, errors.New("runtime config is empty; it needs at least `version: 1`")
		}
		return Config{}, fmt.Errorf("invalid runtime config: %w", err)
	}
	if cfg.Version != 1 {
		return Config{}, fmt.Errorf("unsupported runtime config version %d (expected `version: 1`)", cfg.Version)
	}
	if cfg.HTTP.Advertise == "" {
		cfg.HTTP.Advertise = cfg.HTTP.Bind
	}
	if cfg.Cluster.Advertise == "" {
		cfg.Cluster.Advertise = cfg.Cluster.Bind
	}
	if cfg.Cluster.JoinBind == "" && cfg.Cluster.Bind != "" {
		if host, port, err := net.SplitHostPort(cfg.Cluster.Bind); err == nil {
			if p, err := strconv.Atoi(port); err == nil {
				cfg.Cluster.JoinBind = net.JoinHostPort(host, strconv.Itoa(p+1))
			}
		}
	}
	return cfg, cfg.validate()
}

func (c Config) validate() error {
	addrs := []struct{ key, val string }{
		{"http.bind", c.HTTP.Bind}, {"http.advertise", c.HTTP.Advertise},
		{"metrics.bind", c.Metrics.Bind},
		{"cluster.bind", c.Cluster.Bind}, {"cluster.advertise", c.Cluster.Advertise},
		{"cluster.join_bind", c.Cluster.JoinBind},
	}
	if c.Cluster.JoinSeed != "" {
		addrs = append(addrs, struct{ key, val string }{"cluster.join_seed", c.Cluster.JoinSeed})
	}
	if err := c.Integration.validate(); err != nil {
		return err
	}
	for _, a := range addrs {
		if err := checkHostPort(a.val); err != nil {
			return fmt.Errorf("%s: %w", a.key, err)
		}
	}
	paths := []struct{ key, val string }{
		{"http.tls_dir", c.HTTP.TLSDir}, {"cluster.data_dir", c.Cluster.DataDir},
		{"cluster.node_id_path", c.Cluster.NodeIDPath}, {"cluster.token_path", c.Cluster.TokenPath},
	}
	for _, p := range paths {
		if p.val == "" || !filepath.IsAbs(p.val) {
			return fmt.Errorf("%s must be an absolute path (the simulator has no default paths), got %q", p.key, p.val)
		}
	}
	return nil
}

// groupName is the managed group the section names.
func (i IntegrationConfig) groupName() string {
	switch i.Mode {
	case IntegrationAzureVMSS:
		return i.Azure.VMSSName
	case IntegrationGCPMIG:
		return i.GCP.IGName
	}
	return i.AWS.ASGName
}

// validate checks the integration section: each mode needs where its
// group is.
func (i IntegrationConfig) validate() error {
	switch i.Mode {
	case "":
	case IntegrationAWSASG:
		if i.AWS.Region == "" || i.AWS.ASGName == "" {
			return errors.New("integration.mode aws-asg needs integration.aws.region and integration.aws.asg_name")
		}
	case IntegrationAzureVMSS:
		if i.Azure.SubscriptionID == "" || i.Azure.ResourceGroup == "" || i.Azure.VMSSName == "" {
			return errors.New("integration.mode azure-vmss needs integration.azure.subscription_id, resource_group and vmss_name")
		}
	case IntegrationGCPMIG:
		if i.GCP.Project == "" || i.GCP.Region == "" || i.GCP.IGName == "" {
			return errors.New("integration.mode gcp-mig needs integration.gcp.project, region and ig_name")
		}
	default:
		return fmt.Errorf("integration.mode %q: want aws-asg, azure-vmss or gcp-mig", i.Mode)
	}
	for _, v := range []struct {
		key string
		val int
	}{{"reconcile_interval_secs", i.ReconcileIntervalSecs}, {"drain_timeout_secs", i.DrainTimeoutSecs},
		{"membership.min_voters", i.Membership.MinVoters}, {"membership.stale_after_secs", i.Membership.StaleAfterSecs}} {
		if v.val < 0 {
			return fmt.Errorf("integration.%s must not be negative, got %d", v.key, v.val)
		}
	}
	return nil
}

func checkHostPort(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q is not IP:PORT: %w", s, err)
	}
	if net.ParseIP(host) == nil {
		return fmt.Errorf("%q: host must be an IP address", s)
	}
	if p, err := strconv.Atoi(port); err != nil || p <= 0 || p > 65535 {
		return fmt.Errorf("%q: bad port", s)
	}
	return nil
}

// Marshal renders the config as YAML.
func (c Config) Marshal() ([]byte, error) {
	return yaml.Marshal(c)
}

// RaftDir is the Raft store directory, <data_dir>/raft.
func (c Config) RaftDir() string { return filepath.Join(c.Cluster.DataDir, "raft") }

// APIAuthPath is the API keyset file, <http.tls_dir>/api-auth.json.
func (c Config) APIAuthPath() string { return filepath.Join(c.HTTP.TLSDir, "api-auth.json") }

// ClusterTLSDir is the cluster mTLS material directory, <data_dir>/tls.
func (c Config) ClusterTLSDir() string { return filepath.Join(c.Cluster.DataDir, "tls") }

// NodeConfig returns the config.yaml the simulator uses for a node rooted at
// root with the given IP. joinSeedIP is empty on the seed.
func NodeConfig(root, ip, joinSeedIP string) Config {
	p := PathsFor(root)
	hp := func(port int) string { return net.JoinHostPort(ip, strconv.Itoa(port)) }
	cfg := Config{
		Version: 1,
		HTTP:    HTTPConfig{Bind: hp(HTTPPort), Advertise: hp(HTTPPort), TLSDir: p.HTTPTLSDir},
		Metrics: MetricsConfig{Bind: hp(MetricsPort)},
		Cluster: ClusterConfig{
			Bind: hp(RaftPort), Advertise: hp(RaftPort), JoinBind: hp(JoinPort),
			DataDir: p.ClusterDir, NodeIDPath: p.NodeID, TokenPath: p.BootstrapToken,
		},
	}
	if joinSeedIP != "" {
		cfg.Cluster.JoinSeed = net.JoinHostPort(joinSeedIP, strconv.Itoa(JoinPort))
	}
	return cfg
}

// ---------------------------------------------------------------------------
// sim-node.json

// SimSettings is etc/neuwerk/sim-node.json: what a real node would learn from
// its join flow and cloud metadata, plus simulator timings. Zero durations
// take the defaults below.
type SimSettings struct {
	Cluster string `json:"cluster"`
	Name    string `json:"name"`
	Peers   []Peer `json:"peers"`
	// WarmupMillis is how long after start the DHCP lease arrives (0: the
	// default 3000; negative: no warm-up). The environment variable
	// NEUWERK_SIM_WARMUP (a Go duration, "0s" allowed) overrides it.
	WarmupMillis int `json:"warmup_millis,omitempty"`
	// CrashAfterMillis is when the crashloop fault exits 2 (default 3000).
	CrashAfterMillis int `json:"crash_after_millis,omitempty"`
	// StallAfterMillis is how long after first becoming ready the stall fault
	// stops applying the Raft log (default 4000).
	StallAfterMillis int `json:"stall_after_millis,omitempty"`
	// FailClosedAfterMillis is how long after first becoming ready the
	// failclosed fault starts failing closed (default 3000).
	FailClosedAfterMillis int `json:"fail_closed_after_millis,omitempty"`
	// TickMillis is the leader's write interval (default 300).
	TickMillis int `json:"tick_millis,omitempty"`
	// Dynamic switches from the static peer list to Neuwerk's dynamic
	// membership: the seed initialises a single-node cluster, every other
	// node joins through its join_seed and is added by the leader. Peers
	// then only needs to list this node.
	Dynamic bool `json:"dynamic,omitempty"`
	// JoinViaFollower is what a follower serving a join does with the
	// membership change: JoinStuck (default) fails like openraft's leader-only
	// calls, so the joiner is never added; JoinForward passes it to the leader.
	JoinViaFollower string `json:"join_via_follower,omitempty"`
	// CloudEndpoint is where the cloud integration sends its provider
	// calls (the simulator's fake cloud; real Neuwerk uses the provider's
	// own endpoints), without credentials.
	CloudEndpoint string `json:"cloud_endpoint,omitempty"`
	// DrainMillis is how long a terminating node's drain takes (default
	// 3000): the simulator has no flows to wait for.
	DrainMillis int `json:"drain_millis,omitempty"`
}

// Values of SimSettings.JoinViaFollower.
const (
	JoinStuck   = "stuck"
	JoinForward = "forward"
)

// Peer is one member of the simulated cluster. In static mode every node
// bootstraps Raft with the same peer list; in dynamic mode a node lists
// only itself and membership lives in Raft.
type Peer struct {
	NodeID   string `json:"node_id"`   // decimal u128
	Name     string `json:"name"`      // host name, e.g. fw-a
	RaftAddr string `json:"raft_addr"` // cluster.advertise, IP:9600
	HTTPAddr string `json:"http_addr"` // http.advertise, IP:8443
}

// NewPeer builds a Peer for a node with the given name, IP and node_id UUID.
func NewPeer(name, ip, nodeUUID string) (Peer, error) {
	id, err := health.NodeIDFromUUID(nodeUUID)
	if err != nil {
		return Peer{}, err
	}
	return Peer{
		NodeID:   id,
		Name:     name,
		RaftAddr: net.JoinHostPort(ip, strconv.Itoa(RaftPort)),
		HTTPAddr: net.JoinHostPort(ip, strconv.Itoa(HTTPPort)),
	}, nil
}

// LoadSimSettings reads sim-node.json strictly.
func LoadSimSettings(path string) (SimSettings, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return SimSettings{}, fmt.Errorf("read simulator settings: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var s SimSettings
	if err := dec.Decode(&s); err != nil {
		return SimSettings{}, fmt.Errorf("%s: invalid simulator settings: %w", path, err)
	}
	if len(s.Peers) == 0 {
		return SimSettings{}, fmt.Errorf("%s: no peers listed", path)
	}
	switch s.JoinViaFollower {
	case "", JoinStuck, JoinForward:
	default:
		return SimSettings{}, fmt.Errorf("%s: join_via_follower %q: want %q or %q", path, s.JoinViaFollower, JoinStuck, JoinForward)
	}
	seen := map[string]bool{}
	for _, p := range s.Peers {
		if _, err := health.UUIDFromNodeID(p.NodeID); err != nil {
			return SimSettings{}, fmt.Errorf("%s: peer %q: %w", path, p.Name, err)
		}
		if seen[p.NodeID] {
			return SimSettings{}, fmt.Errorf("%s: peer node id %s listed twice", path, p.NodeID)
		}
		seen[p.NodeID] = true
		if err := checkHostPort(p.RaftAddr); err != nil {
			return SimSettings{}, fmt.Errorf("%s: peer %q raft_addr: %w", path, p.Name, err)
		}
	}
	return s, nil
}

// Marshal renders the settings as indented JSON.
func (s SimSettings) Marshal() ([]byte, error) {
	b, err := json.MarshalIndent(s, "", "  ")
	return append(b, '\n'), err
}

// millisOr converts a settings value: 0 means the default, a negative value
// means none (zero duration).
func millisOr(ms int, def time.Duration) time.Duration {
	switch {
	case ms > 0:
		return time.Duration(ms) * time.Millisecond
	case ms < 0:
		return 0
	}
	return def
}

// ---------------------------------------------------------------------------
// bootstrap-token (facts §6)

// BootstrapTokens is the bootstrap-token file.
type BootstrapTokens struct {
	Tokens []BootstrapToken `json:"tokens"`
}

// BootstrapToken is one token entry. Token is "b64:<base64>" or "hex:<hex>".
type BootstrapToken struct {
	KID        string     `json:"kid"`
	Token      string     `json:"token"`
	ValidFrom  *time.Time `json:"valid_from,omitempty"`
	ValidUntil *time.Time `json:"valid_until,omitempty"`
}

// ErrTokenPermissions is returned when the bootstrap-token file is readable
// by group or others.
var ErrTokenPermissions = errors.New("bootstrap token file permissions too open")

// NewBootstrapTokens returns a file with one random 32-byte token and no
// validity window.
func NewBootstrapTokens() (BootstrapTokens, error) {
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return BootstrapTokens{}, err
	}
	return BootstrapTokens{Tokens: []BootstrapToken{{
		KID:   uuid.NewString(),
		Token: "b64:" + base64.StdEncoding.EncodeToString(secret),
	}}}, nil
}

// Marshal renders the token file as JSON.
func (b BootstrapTokens) Marshal() ([]byte, error) {
	d, err := json.MarshalIndent(b, "", "  ")
	return append(d, '\n'), err
}

// LoadBootstrapTokens reads the token file, refusing one that is not 0600
// or stricter.
func LoadBootstrapTokens(path string) (BootstrapTokens, error) {
	st, err := os.Stat(path)
	if err != nil {
		return BootstrapTokens{}, fmt.Errorf("load bootstrap token: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return BootstrapTokens{}, fmt.Errorf("%w: %s is %04o, expected 0600", ErrTokenPermissions, path, st.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return BootstrapTokens{}, fmt.Errorf("load bootstrap token: %w", err)
	}
	var b BootstrapTokens
	if err := json.Unmarshal(data, &b); err != nil {
		return BootstrapTokens{}, fmt.Errorf("load bootstrap token %s: invalid JSON: %w", path, err)
	}
	for _, t := range b.Tokens {
		if _, err := t.Secret(); err != nil {
			return BootstrapTokens{}, fmt.Errorf("load bootstrap token %s: kid %q: %w", path, t.KID, err)
		}
	}
	return b, nil
}

// Secret decodes the token value.
func (t BootstrapToken) Secret() ([]byte, error) {
	switch {
	case strings.HasPrefix(t.Token, "b64:"):
		return base64.StdEncoding.DecodeString(strings.TrimPrefix(t.Token, "b64:"))
	case strings.HasPrefix(t.Token, "hex:"):
		return hex.DecodeString(strings.TrimPrefix(t.Token, "hex:"))
	}
	return nil, errors.New(`token must start with "b64:" or "hex:"`)
}

// ValidAt reports whether the token's window contains now.
func (t BootstrapToken) ValidAt(now time.Time) bool {
	if t.ValidFrom != nil && now.Before(*t.ValidFrom) {
		return false
	}
	if t.ValidUntil != nil && !now.Before(*t.ValidUntil) {
		return false
	}
	return true
}

// Current returns the first token valid at now.
func (b BootstrapTokens) Current(now time.Time) (BootstrapToken, error) {
	for _, t := range b.Tokens {
		if t.ValidAt(now) {
			return t, nil
		}
	}
	return BootstrapToken{}, errors.New("no bootstrap token is valid now")
}

// ---------------------------------------------------------------------------
// http-tls/api-auth.json (facts §5)

// APIKeyset is the Ed25519 JWT signing keyset, shared by every node.
type APIKeyset struct {
	ActiveKID string   `json:"active_kid"`
	Keys      []APIKey `json:"keys"`
}

// APIKey is one signing key. Keys are base64 (std encoding); PrivateKey holds
// the 32-byte Ed25519 seed.
type APIKey struct {
	KID        string `json:"kid"`
	PublicKey  string `json:"public_key"`
	PrivateKey string `json:"private_key"`
	CreatedAt  string `json:"created_at"`
	Status     string `json:"status"` // active | retired
}

// GenerateAPIKeyset returns a keyset with one fresh active key.
func GenerateAPIKeyset() (APIKeyset, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return APIKeyset{}, err
	}
	kid := uuid.NewString()
	return APIKeyset{ActiveKID: kid, Keys: []APIKey{{
		KID:        kid,
		PublicKey:  base64.StdEncoding.EncodeToString(pub),
		PrivateKey: base64.StdEncoding.EncodeToString(priv.Seed()),
		CreatedAt:  time.Now().UTC().Format(time.RFC3339),
		Status:     "active",
	}}}, nil
}

// LoadAPIKeyset reads api-auth.json.
func LoadAPIKeyset(path string) (APIKeyset, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return APIKeyset{}, fmt.Errorf("missing api auth keyset: %w", err)
	}
	var k APIKeyset
	if err := json.Unmarshal(data, &k); err != nil {
		return APIKeyset{}, fmt.Errorf("invalid api auth keyset %s: %w", path, err)
	}
	if len(k.Keys) == 0 {
		return APIKeyset{}, fmt.Errorf("api auth keyset %s has no keys", path)
	}
	return k, nil
}

// Marshal renders the keyset as JSON.
func (k APIKeyset) Marshal() ([]byte, error) {
	d, err := json.MarshalIndent(k, "", "  ")
	return append(d, '\n'), err
}

var (
	errUnknownKID = errors.New("unknown jwt kid")
	errKeyRetired = errors.New("jwt key retired")
)

// signingKey returns the active key's kid and private key.
func (k APIKeyset) signingKey() (string, ed25519.PrivateKey, error) {
	for _, key := range k.Keys {
		if key.KID != k.ActiveKID {
			continue
		}
		seed, err := base64.StdEncoding.DecodeString(key.PrivateKey)
		if err != nil || len(seed) != ed25519.SeedSize {
			return "", nil, fmt.Errorf("api auth key %s: bad private_key", key.KID)
		}
		return key.KID, ed25519.NewKeyFromSeed(seed), nil
	}
	return "", nil, fmt.Errorf("api auth keyset has no active key %q", k.ActiveKID)
}

// verifyKey returns the public key for kid.
func (k APIKeyset) verifyKey(kid string) (ed25519.PublicKey, error) {
	for _, key := range k.Keys {
		if key.KID != kid {
			continue
		}
		if key.Status == "retired" {
			return nil, errKeyRetired
		}
		pub, err := base64.StdEncoding.DecodeString(key.PublicKey)
		if err != nil || len(pub) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("api auth key %s: bad public_key", kid)
		}
		return ed25519.PublicKey(pub), nil
	}
	return nil, errUnknownKID
}

// readNodeUUID reads the node_id file.
func readNodeUUID(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	s := strings.TrimSpace(string(data))
	if _, err := uuid.Parse(s); err != nil {
		return "", fmt.Errorf("%s does not hold a UUID: %w", path, err)
	}
	return s, nil
}

func newUUID() string { return uuid.NewString() }
