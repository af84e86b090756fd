package node

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// nodeMetrics is one node's private Prometheus registry (facts §10). Gauges
// read live state at scrape time; counters are bumped where things happen.
type nodeMetrics struct {
	reg           *prometheus.Registry
	leaderChanges prometheus.Counter
	peerErrors    *prometheus.CounterVec
	peerRTT       *prometheus.HistogramVec
	failClosed    *prometheus.CounterVec
	auth          *prometheus.CounterVec
	requests      *prometheus.CounterVec
	requestTime   *prometheus.HistogramVec
	leaseChanges  prometheus.Counter
}

// gaugeReaders supplies the live values behind the gauges.
type gaugeReaders struct {
	isLeader, currentTerm, lastLogIndex, lastApplied func() float64
	natUtilization, leaseActive, leaseExpiry         func() float64
}

func newNodeMetrics(g gaugeReaders) *nodeMetrics {
	m := &nodeMetrics{
		reg: prometheus.NewRegistry(),
		leaderChanges: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "raft_leader_changes_total", Help: "Leader changes observed by this node."}),
		peerErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "raft_peer_errors_total", Help: "Failed Raft RPCs sent to a peer."},
			[]string{"peer_id", "rpc", "kind"}),
		peerRTT: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "raft_peer_rtt_seconds", Help: "Round-trip time of Raft RPCs sent to a peer.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}},
			[]string{"peer_id", "rpc"}),
		failClosed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "svc_fail_closed_total", Help: "Service-plane fail-closed events."},
			[]string{"component"}),
		auth: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_auth_total", Help: "API authentication decisions."},
			[]string{"outcome", "reason"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total", Help: "HTTP API requests."},
			[]string{"path", "method", "status"}),
		requestTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "http_request_duration_seconds", Help: "HTTP API request latency.",
			Buckets: prometheus.DefBuckets},
			[]string{"path", "method", "status"}),
		leaseChanges: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "dhcp_lease_changes_total", Help: "DHCP lease acquisitions and changes."}),
	}
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f)
	}
	m.reg.MustRegister(
		m.leaderChanges, m.peerErrors, m.peerRTT, m.failClosed, m.auth,
		m.requests, m.requestTime, m.leaseChanges,
		gauge("raft_is_leader", "1 when this node is the Raft leader.", g.isLeader),
		gauge("raft_current_term", "This node's Raft term.", g.currentTerm),
		gauge("raft_last_log_index", "This node's last Raft log index.", g.lastLogIndex),
		gauge("raft_last_applied", "This node's last applied Raft log index.", g.lastApplied),
		gauge("dp_nat_port_utilization_ratio", "NAT port utilization, 0..1.", g.natUtilization),
		gauge("dhcp_lease_active", "1 while the dataplane holds a DHCP lease.", g.leaseActive),
		gauge("dhcp_lease_expiry_epoch", "DHCP lease expiry, unix seconds.", g.leaseExpiry),
	)
	m.failClosed.WithLabelValues("tls") // exported as 0 from the start
	return m
}

// handler serves GET /metrics in the Prometheus text format.
func (m *nodeMetrics) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	return mux
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
