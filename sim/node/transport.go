package node

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/raft"
)

// peerTransport wraps the Raft network transport to record what Neuwerk's
// leader knows about each follower: the matched index from successful
// AppendEntries, the time of the last acknowledgement (for the quorum-ack
// readiness rule), per-peer RPC errors and round-trip times.
//
// Pipelining is disabled so every AppendEntries response passes through here.
// Progress is keyed by term: after an election the new leader has no progress
// for anyone yet, so stats show null matched_index until the first successful
// append of the new term (facts §13).
type peerTransport struct {
	raft.Transport
	metrics *nodeMetrics

	mu    sync.Mutex
	peers map[raft.ServerID]*peerProgress
}

type peerProgress struct {
	term       uint64
	matched    uint64
	hasMatched bool
	lastAck    time.Time
}

func newPeerTransport(base raft.Transport, m *nodeMetrics) *peerTransport {
	return &peerTransport{Transport: base, metrics: m, peers: map[raft.ServerID]*peerProgress{}}
}

// AppendEntriesPipeline refuses pipelining so raft falls back to AppendEntries.
func (t *peerTransport) AppendEntriesPipeline(raft.ServerID, raft.ServerAddress) (raft.AppendPipeline, error) {
	return nil, raft.ErrPipelineReplicationNotSupported
}

func (t *peerTransport) AppendEntries(id raft.ServerID, target raft.ServerAddress, args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) error {
	start := time.Now()
	err := t.Transport.AppendEntries(id, target, args, resp)
	t.observe(id, "append_entries", start, err)
	if err == nil && resp.Success {
		t.recordAck(id, args, start)
	}
	return err
}

func (t *peerTransport) RequestVote(id raft.ServerID, target raft.ServerAddress, args *raft.RequestVoteRequest, resp *raft.RequestVoteResponse) error {
	start := time.Now()
	err := t.Transport.RequestVote(id, target, args, resp)
	t.observe(id, "vote", start, err)
	return err
}

// RequestPreVote keeps hashicorp's pre-vote working through the wrapper.
func (t *peerTransport) RequestPreVote(id raft.ServerID, target raft.ServerAddress, args *raft.RequestPreVoteRequest, resp *raft.RequestPreVoteResponse) error {
	pv, ok := t.Transport.(raft.WithPreVote)
	if !ok {
		return errors.New("transport does not support pre-vote")
	}
	start := time.Now()
	err := pv.RequestPreVote(id, target, args, resp)
	t.observe(id, "vote", start, err)
	return err
}

func (t *peerTransport) InstallSnapshot(id raft.ServerID, target raft.ServerAddress, args *raft.InstallSnapshotRequest, resp *raft.InstallSnapshotResponse, data io.Reader) error {
	start := time.Now()
	err := t.Transport.InstallSnapshot(id, target, args, resp, data)
	t.observe(id, "install_snapshot", start, err)
	if err == nil && resp.Success {
		t.recordMatch(id, args.Term, args.LastLogIndex, start)
	}
	return err
}

// Close lets raft.Shutdown close the underlying transport.
func (t *peerTransport) Close() error {
	if c, ok := t.Transport.(raft.WithClose); ok {
		return c.Close()
	}
	return nil
}

func (t *peerTransport) observe(id raft.ServerID, rpc string, start time.Time, err error) {
	if err != nil {
		t.metrics.peerErrors.WithLabelValues(string(id), rpc, errorKind(err)).Inc()
		return
	}
	t.metrics.peerRTT.WithLabelValues(string(id), rpc).Observe(time.Since(start).Seconds())
}

func (t *peerTransport) recordAck(id raft.ServerID, args *raft.AppendEntriesRequest, sent time.Time) {
	heartbeat := len(args.Entries) == 0 && args.PrevLogEntry == 0
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.progress(id, args.Term)
	p.lastAck = sent
	if m := args.PrevLogEntry + uint64(len(args.Entries)); !heartbeat && (!p.hasMatched || m > p.matched) {
		// A leader's match index only grows within its term (hashicorp's
		// commitment.match keeps the largest): an older batch acked late,
		// or sent again after a backoff, does not take it back.
		p.matched, p.hasMatched = m, true
	}
}

func (t *peerTransport) recordMatch(id raft.ServerID, term, index uint64, sent time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.progress(id, term)
	p.lastAck = sent
	if !p.hasMatched || index > p.matched {
		p.matched, p.hasMatched = index, true
	}
}

// progress returns id's entry for term, starting a fresh one on a new term.
func (t *peerTransport) progress(id raft.ServerID, term uint64) *peerProgress {
	p := t.peers[id]
	if p == nil || p.term != term {
		p = &peerProgress{term: term}
		t.peers[id] = p
	}
	return p
}

// matched returns the matched index the leader (in term) knows for id.
func (t *peerTransport) matched(id raft.ServerID, term uint64) (uint64, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.peers[id]
	if p == nil || p.term != term || !p.hasMatched {
		return 0, false
	}
	return p.matched, true
}

// quorumAck returns when a majority of voters (self included, counted as now)
// last acknowledged this leader in term. ok is false without such a majority.
func (t *peerTransport) quorumAck(voters []raft.ServerID, self raft.ServerID, term uint64, now time.Time) (time.Time, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var acks []time.Time
	for _, v := range voters {
		if v == self {
			acks = append(acks, now)
			continue
		}
		if p := t.peers[v]; p != nil && p.term == term && !p.lastAck.IsZero() {
			acks = append(acks, p.lastAck)
		}
	}
	need := len(voters)/2 + 1
	if len(acks) < need {
		return time.Time{}, false
	}
	sort.Slice(acks, func(i, j int) bool { return acks[i].After(acks[j]) })
	return acks[need-1], true
}

// errorKind classifies an RPC error as timeout, transport or other.
func errorKind(err error) string {
	var ne net.Error
	if errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return "timeout"
	}
	var opErr *net.OpError
	var certErr *tls.CertificateVerificationError
	var unknownAuth x509.UnknownAuthorityError
	switch {
	case errors.As(err, &opErr), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.As(err, &certErr), errors.As(err, &unknownAuth):
		return "transport"
	}
	msg := err.Error()
	for _, s := range []string{"EOF", "connection refused", "connection reset", "broken pipe", "use of closed network connection"} {
		if strings.Contains(msg, s) {
			return "transport"
		}
	}
	if strings.Contains(msg, "timeout") || strings.Contains(msg, "deadline") {
		return "timeout"
	}
	return "other"
}

// tlsStream is the Raft stream layer: mutual TLS with the cluster CA, like
// Neuwerk's mTLS cluster listener.
type tlsStream struct {
	net.Listener
	advertise net.Addr
	client    *tls.Config
}

func newTLSStream(bind, advertise, tlsDir string) (*tlsStream, error) {
	cert, pool, err := loadTLSDir(tlsDir)
	if err != nil {
		return nil, err
	}
	adv, err := net.ResolveTCPAddr("tcp", advertise)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, err
	}
	server := &tls.Config{
		Certificates: []tls.Certificate{cert}, ClientCAs: pool,
		ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12,
	}
	client := &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &tlsStream{Listener: tls.NewListener(ln, server), advertise: adv, client: client}, nil
}

func (s *tlsStream) Addr() net.Addr { return s.advertise }

func (s *tlsStream) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return tls.DialWithDialer(&net.Dialer{Timeout: timeout}, "tcp", string(addr), s.client)
}
