package node

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"sync"
	"time"
)

// The join handshake (facts §8): a node with cluster.join_seed proves it
// holds a currently valid bootstrap token to the seed's plaintext join
// listener on every start. Eight attempts with exponential backoff from
// 250 ms to 8 s plus up to 250 ms jitter; connect timeout 3 s, RPC 5 s.
// With a static peer list (sim-node.json) a successful join only lets the
// node proceed; in dynamic mode the serving node then adds the joiner to
// the Raft membership in the background (membership.go).
const (
	joinAttempts       = 8
	joinConnectTimeout = 3 * time.Second
	joinRPCTimeout     = 5 * time.Second
)

type joinRequest struct {
	NodeID string `json:"node_id"`
	KID    string `json:"kid"`
	Nonce  string `json:"nonce"`
	MAC    string `json:"mac"` // hex HMAC-SHA256(token, node_id "|" nonce)
	// RaftAddr is the joiner's cluster.advertise, which the leader adds.
	RaftAddr string `json:"raft_addr,omitempty"`
	// Forwarded marks a membership change a follower passes to the leader
	// (join_via_follower "forward"); it is signed like a join.
	Forwarded bool `json:"forwarded,omitempty"`
}

type joinResponse struct {
	OK      bool   `json:"ok"`
	Cluster string `json:"cluster,omitempty"`
	Error   string `json:"error,omitempty"`
}

func joinMAC(secret []byte, nodeID, nonce string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(nodeID + "|" + nonce))
	return hex.EncodeToString(m.Sum(nil))
}

// joinCluster runs the handshake against cluster.join_seed.
func (n *node) joinCluster(ctx context.Context, tokens BootstrapTokens) error {
	seed := n.cfg.Cluster.JoinSeed
	backoff := 250 * time.Millisecond
	var lastErr error
	for attempt := 1; attempt <= joinAttempts; attempt++ {
		tok, err := tokens.Current(time.Now())
		if err == nil {
			err = n.joinOnce(ctx, seed, tok, joinRequest{NodeID: n.id, RaftAddr: n.cfg.Cluster.Advertise})
		}
		if err == nil {
			n.log.Info("joined cluster", "seed", seed, "attempt", attempt)
			return nil
		}
		lastErr = err
		n.log.Warn("cluster join attempt failed", "attempt", fmt.Sprintf("%d/%d", attempt, joinAttempts),
			"seed", seed, "error", err)
		if attempt == joinAttempts {
			break
		}
		jitter, _ := rand.Int(rand.Reader, big.NewInt(250))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff + time.Duration(jitter.Int64())*time.Millisecond):
		}
		backoff = min(backoff*2, 8*time.Second)
	}
	return fmt.Errorf("cluster join failed after %d attempts: %w", joinAttempts, lastErr)
}

// joinOnce sends req (node id and Raft address filled in), signed with tok, to target.
func (n *node) joinOnce(ctx context.Context, seed string, tok BootstrapToken, req joinRequest) error {
	secret, err := tok.Secret()
	if err != nil {
		return err
	}
	d := net.Dialer{Timeout: joinConnectTimeout}
	conn, err := d.DialContext(ctx, "tcp", seed)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(joinRPCTimeout))
	req.KID, req.Nonce = tok.KID, newUUID()
	req.MAC = joinMAC(secret, req.NodeID, req.Nonce)
	if err := json.NewEncoder(conn).Encode(req); err != nil {
		return err
	}
	var resp joinResponse
	if err := json.NewDecoder(bufio.NewReader(conn)).Decode(&resp); err != nil {
		return fmt.Errorf("read join response: %w", err)
	}
	if !resp.OK {
		return fmt.Errorf("join rejected by %s: %s", seed, resp.Error)
	}
	return nil
}

// serveJoin runs this node's join listener on cluster.join_bind.
func (n *node) serveJoin(ctx context.Context, wg *sync.WaitGroup) (net.Listener, error) {
	ln, err := net.Listen("tcp", n.cfg.Cluster.JoinBind)
	if err != nil {
		return nil, err
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go n.handleJoin(ctx, conn)
		}
	}()
	return ln, nil
}

func (n *node) handleJoin(ctx context.Context, conn net.Conn) {
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(joinRPCTimeout))
	var req joinRequest
	resp := joinResponse{OK: true, Cluster: n.sim.Cluster}
	if err := json.NewDecoder(io.LimitReader(conn, 4096)).Decode(&req); err != nil {
		resp = joinResponse{Error: "malformed join request"}
	} else if err := n.checkJoin(req); err != nil {
		resp = joinResponse{Error: err.Error()}
		n.log.Warn("rejected cluster join", "node_id", req.NodeID, "error", err)
	} else if n.sim.Dynamic && req.RaftAddr != "" {
		go n.addJoiner(ctx, req.NodeID, req.RaftAddr, req.Forwarded)
	}
	json.NewEncoder(conn).Encode(resp)
}

func (n *node) checkJoin(req joinRequest) error {
	tokens, err := LoadBootstrapTokens(n.cfg.Cluster.TokenPath)
	if err != nil {
		return errors.New("join listener cannot load its bootstrap token")
	}
	now := time.Now()
	for _, t := range tokens.Tokens {
		if t.KID != req.KID {
			continue
		}
		if !t.ValidAt(now) {
			return errors.New("bootstrap token is not valid now")
		}
		secret, _ := t.Secret()
		if !hmac.Equal([]byte(joinMAC(secret, req.NodeID, req.Nonce)), []byte(req.MAC)) {
			return errors.New("join request signature does not match bootstrap token")
		}
		if n.sim.Dynamic {
			// The bootstrap token admits the joiner; the leader adds it.
			if req.RaftAddr != "" && checkHostPort(req.RaftAddr) != nil {
				return fmt.Errorf("join request raft_addr %q is not IP:PORT", req.RaftAddr)
			}
			return nil
		}
		if _, ok := n.peer(req.NodeID); !ok {
			return fmt.Errorf("node %s is not a member of cluster %q", req.NodeID, n.sim.Cluster)
		}
		return nil
	}
	return fmt.Errorf("unknown bootstrap token kid %q", req.KID)
}
