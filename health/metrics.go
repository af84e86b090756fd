package health

import (
	"fmt"
	"io"
	"math"
	"sort"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Metric names nwroll reads (facts §10).
const (
	MetricRaftIsLeader        = "raft_is_leader"
	MetricRaftCurrentTerm     = "raft_current_term"
	MetricRaftLastLogIndex    = "raft_last_log_index"
	MetricRaftLastApplied     = "raft_last_applied"
	MetricRaftLeaderChanges   = "raft_leader_changes_total"
	MetricRaftPeerErrors      = "raft_peer_errors_total"
	MetricRaftPeerRTT         = "raft_peer_rtt_seconds"
	MetricSvcFailClosed       = "svc_fail_closed_total"
	MetricDHCPLeaseActive     = "dhcp_lease_active"
	MetricDHCPLeaseExpiry     = "dhcp_lease_expiry_epoch"
	MetricNATPortUtilization  = "dp_nat_port_utilization_ratio"
	MetricHTTPAuth            = "http_auth_total"
	labelPeerID, labelRPC     = "peer_id", "rpc"
	labelKind, labelComponent = "kind", "component"
	labelOutcome, labelReason = "outcome", "reason"
)

// PeerErrorSample is one raft_peer_errors_total{peer_id,rpc,kind} series.
type PeerErrorSample struct {
	PeerID string // decimal node id of the target peer
	RPC    string // append_entries | vote | install_snapshot
	Kind   string // timeout | transport | other
	Value  float64
}

// PeerRTT is one raft_peer_rtt_seconds{peer_id,rpc} histogram.
type PeerRTT struct {
	PeerID  string
	RPC     string
	Count   uint64
	Sum     float64 // seconds
	Buckets []Bucket
}

// Mean is the average RTT in seconds, or 0 with no samples.
func (r PeerRTT) Mean() float64 {
	if r.Count == 0 {
		return 0
	}
	return r.Sum / float64(r.Count)
}

// Bucket is one cumulative histogram bucket.
type Bucket struct {
	UpperBound float64 // seconds; +Inf for the last
	Count      uint64
}

// AuthSample is one http_auth_total{outcome,reason} series.
type AuthSample struct {
	Outcome string // allow | deny
	Reason  string
	Value   float64
}

// Metrics is one scrape of a node's /metrics, with the facts §10 metrics
// typed. Gauges that were absent are zero; use Has to tell. Families keeps
// every parsed family for lookups of anything else.
type Metrics struct {
	IsLeader             bool    // raft_is_leader == 1
	CurrentTerm          uint64  // raft_current_term
	LastLogIndex         uint64  // raft_last_log_index
	LastApplied          uint64  // raft_last_applied
	LeaderChanges        float64 // raft_leader_changes_total
	PeerErrorSamples     []PeerErrorSample
	PeerRTTs             []PeerRTT          // raft_peer_rtt_seconds; often absent
	FailClosed           map[string]float64 // svc_fail_closed_total by component
	DHCPLeaseActive      bool               // dhcp_lease_active > 0
	DHCPLeaseExpiryEpoch uint64             // dhcp_lease_expiry_epoch, unix seconds
	NATPortUtilization   float64            // dp_nat_port_utilization_ratio, 0..1
	Auth                 []AuthSample       // http_auth_total

	Families map[string]*dto.MetricFamily
}

// ParseMetrics reads the Prometheus text format (what Neuwerk serves,
// text/plain; version=0.0.4) and fills the typed fields.
func ParseMetrics(r io.Reader) (*Metrics, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	m := &Metrics{Families: fams, FailClosed: map[string]float64{}}

	m.IsLeader = m.gauge(MetricRaftIsLeader) == 1
	m.CurrentTerm = toUint(m.gauge(MetricRaftCurrentTerm))
	m.LastLogIndex = toUint(m.gauge(MetricRaftLastLogIndex))
	m.LastApplied = toUint(m.gauge(MetricRaftLastApplied))
	m.LeaderChanges = m.gauge(MetricRaftLeaderChanges)
	m.DHCPLeaseActive = m.gauge(MetricDHCPLeaseActive) > 0
	m.DHCPLeaseExpiryEpoch = toUint(m.gauge(MetricDHCPLeaseExpiry))
	m.NATPortUtilization = m.gauge(MetricNATPortUtilization)

	for _, s := range m.series(MetricRaftPeerErrors) {
		m.PeerErrorSamples = append(m.PeerErrorSamples, PeerErrorSample{
			PeerID: label(s, labelPeerID), RPC: label(s, labelRPC), Kind: label(s, labelKind), Value: value(s),
		})
	}
	for _, s := range m.series(MetricSvcFailClosed) {
		m.FailClosed[label(s, labelComponent)] += value(s)
	}
	for _, s := range m.series(MetricHTTPAuth) {
		m.Auth = append(m.Auth, AuthSample{Outcome: label(s, labelOutcome), Reason: label(s, labelReason), Value: value(s)})
	}
	for _, s := range m.series(MetricRaftPeerRTT) {
		h := s.GetHistogram()
		if h == nil {
			continue
		}
		rtt := PeerRTT{PeerID: label(s, labelPeerID), RPC: label(s, labelRPC), Count: h.GetSampleCount(), Sum: h.GetSampleSum()}
		for _, b := range h.GetBucket() {
			rtt.Buckets = append(rtt.Buckets, Bucket{UpperBound: b.GetUpperBound(), Count: b.GetCumulativeCount()})
		}
		m.PeerRTTs = append(m.PeerRTTs, rtt)
	}
	sort.Slice(m.PeerErrorSamples, func(i, j int) bool {
		a, b := m.PeerErrorSamples[i], m.PeerErrorSamples[j]
		if a.PeerID != b.PeerID {
			return a.PeerID < b.PeerID
		}
		if a.RPC != b.RPC {
			return a.RPC < b.RPC
		}
		return a.Kind < b.Kind
	})
	return m, nil
}

// CoreGauges are the raft_* gauges every Neuwerk /metrics page carries. A
// page without them is not a sample of zeros but a bad answer: another
// service on the port, or a proxy's page.
var CoreGauges = []string{MetricRaftIsLeader, MetricRaftCurrentTerm, MetricRaftLastLogIndex, MetricRaftLastApplied}

// MissingCore lists the CoreGauges the scrape lacks.
func (m *Metrics) MissingCore() []string {
	var out []string
	for _, name := range CoreGauges {
		if !m.Has(name) {
			out = append(out, name)
		}
	}
	return out
}

// Has reports whether the scrape contained the metric family name.
func (m *Metrics) Has(name string) bool {
	if m == nil {
		return false
	}
	_, ok := m.Families[name]
	return ok
}

// PeerErrors sums raft_peer_errors_total{peer_id=peerID} over rpc and kind.
func (m *Metrics) PeerErrors(peerID string) float64 {
	if m == nil {
		return 0
	}
	var sum float64
	for _, s := range m.PeerErrorSamples {
		if s.PeerID == peerID {
			sum += s.Value
		}
	}
	return sum
}

// AuthDenies sums http_auth_total{outcome="deny"} (facts §10: the code
// emits "deny", not the "reject" of the alert docs).
func (m *Metrics) AuthDenies() float64 {
	if m == nil {
		return 0
	}
	var sum float64
	for _, s := range m.Auth {
		if s.Outcome == "deny" {
			sum += s.Value
		}
	}
	return sum
}

// FailClosedTotal sums svc_fail_closed_total over components.
func (m *Metrics) FailClosedTotal() float64 {
	if m == nil {
		return 0
	}
	var sum float64
	for _, v := range m.FailClosed {
		sum += v
	}
	return sum
}

// Sum adds up every series of the family name whose labels include all of
// match (nil matches every series). Counters, gauges and untyped series
// contribute their value; histograms and summaries their sample count.
// ok is false when the family is absent.
func (m *Metrics) Sum(name string, match map[string]string) (sum float64, ok bool) {
	if !m.Has(name) {
		return 0, false
	}
	for _, s := range m.series(name) {
		if labelsMatch(s, match) {
			sum += value(s)
		}
	}
	return sum, true
}

func (m *Metrics) series(name string) []*dto.Metric {
	if fam := m.Families[name]; fam != nil {
		return fam.GetMetric()
	}
	return nil
}

// gauge is the value of a label-less metric (the sum, if it has series).
func (m *Metrics) gauge(name string) float64 {
	var sum float64
	for _, s := range m.series(name) {
		sum += value(s)
	}
	return sum
}

func value(s *dto.Metric) float64 {
	switch {
	case s.Gauge != nil:
		return s.Gauge.GetValue()
	case s.Counter != nil:
		return s.Counter.GetValue()
	case s.Untyped != nil:
		return s.Untyped.GetValue()
	case s.Histogram != nil:
		return float64(s.Histogram.GetSampleCount())
	case s.Summary != nil:
		return float64(s.Summary.GetSampleCount())
	}
	return 0
}

func label(s *dto.Metric, name string) string {
	for _, lp := range s.GetLabel() {
		if lp.GetName() == name {
			return lp.GetValue()
		}
	}
	return ""
}

func labelsMatch(s *dto.Metric, match map[string]string) bool {
	for k, v := range match {
		if label(s, k) != v {
			return false
		}
	}
	return true
}

// toUint converts a gauge to an index or term, clamping junk to 0.
func toUint(f float64) uint64 {
	if math.IsNaN(f) || f <= 0 {
		return 0
	}
	if f >= math.MaxUint64 {
		return math.MaxUint64
	}
	return uint64(f)
}
