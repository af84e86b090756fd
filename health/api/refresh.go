package api

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/nwroll/nwroll/health"
)

// Refresh polls every node in parallel: /health, /ready and /metrics on
// each, plus one stats and one members call sent to whichever nodes answer
// /health first (each falls over to the next such node on failure). It
// never returns an error: every failure is recorded in the snapshot. The
// console and engine call it about once a second.
func Refresh(ctx context.Context, clients []*Client) health.ClusterSnapshot {
	snap := health.ClusterSnapshot{TakenAt: time.Now(), Nodes: make([]health.NodeSnapshot, len(clients))}

	// healthy receives the index of each node whose /health answered, in
	// answer order; the stats and members pollers read from it.
	healthy := newFanout(len(clients))
	var nodes sync.WaitGroup
	for i, c := range clients {
		nodes.Add(1)
		go func() {
			defer nodes.Done()
			snap.Nodes[i] = pollNode(ctx, c, func() { healthy.publish(i) })
		}()
	}
	go func() { nodes.Wait(); healthy.close() }()

	var leaderView sync.WaitGroup
	leaderView.Add(2)
	go func() {
		defer leaderView.Done()
		snap.StatsFrom, snap.StatsErr = firstAnswer(ctx, clients, healthy.subscribe(), func(c *Client) error {
			st, err := c.Stats(ctx)
			if err == nil {
				snap.Stats = &st
			}
			return err
		})
	}()
	go func() {
		defer leaderView.Done()
		snap.MembersFrom, snap.MembersErr = firstAnswer(ctx, clients, healthy.subscribe(), func(c *Client) error {
			m, err := c.Members(ctx)
			if err == nil {
				snap.Members = &m
			}
			return err
		})
	}()
	nodes.Wait()
	leaderView.Wait()
	return snap
}

// pollNode runs the three per-node calls in parallel. healthOK is called
// as soon as /health answers.
func pollNode(ctx context.Context, c *Client, healthOK func()) health.NodeSnapshot {
	n := health.NodeSnapshot{Name: c.Name(), NodeID: c.NodeID(), APIURL: c.APIURL()}
	var wg sync.WaitGroup
	wg.Add(3)
	go func() {
		defer wg.Done()
		h, err := c.Health(ctx)
		if err != nil {
			n.HealthErr = err
			return
		}
		n.Health = &h
		healthOK()
	}()
	go func() {
		defer wg.Done()
		r, err := c.Ready(ctx)
		if err != nil {
			n.ReadyErr = err
			return
		}
		n.Ready = &r
	}()
	go func() {
		defer wg.Done()
		m, err := c.Metrics(ctx)
		if err != nil {
			n.MetricsErr = err
			return
		}
		n.Metrics = m
	}()
	wg.Wait()
	n.TakenAt = time.Now()
	return n
}

// errNoNodeAnswered is the stats/members error when no /health answered.
var errNoNodeAnswered = errors.New("no node answered /health, so nobody could be asked for the leader's view")

// firstAnswer calls try on nodes in the order their /health answered
// until one succeeds. It moves on after any error (a 502/503 from one node
// may not hold for another that is the leader); the last error is kept.
func firstAnswer(ctx context.Context, clients []*Client, order <-chan int, try func(*Client) error) (string, error) {
	var last error
	for i := range order {
		if ctx.Err() != nil {
			break
		}
		err := try(clients[i])
		if err == nil {
			return clients[i].Name(), nil
		}
		last = err
		if health.IsUnauthorized(err) || health.IsForbidden(err) {
			break // the same token fails everywhere
		}
	}
	if last == nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", errNoNodeAnswered
	}
	return "", last
}

// fanout broadcasts node indexes to a fixed number of subscribers; each
// subscriber channel is buffered for every node, so publish never blocks.
type fanout struct {
	mu   sync.Mutex
	size int
	subs []chan int
	sent []int
	done bool
}

func newFanout(size int) *fanout { return &fanout{size: size} }

func (f *fanout) subscribe() <-chan int {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := make(chan int, f.size)
	for _, i := range f.sent {
		ch <- i
	}
	if f.done {
		close(ch)
	}
	f.subs = append(f.subs, ch)
	return ch
}

func (f *fanout) publish(i int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent = append(f.sent, i)
	for _, ch := range f.subs {
		ch <- i
	}
}

func (f *fanout) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.done = true
	for _, ch := range f.subs {
		close(ch)
	}
}
