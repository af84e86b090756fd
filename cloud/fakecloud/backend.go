// Package fakecloud is what the simulated clouds (fakeaws, and the Azure
// and GCP fakes) share: the Backend that runs their instances, so one
// simulator backend serves every provider.
package fakecloud

import (
	"context"
	"fmt"
	"sync"
)

// Backend is what runs behind the fake's instances. The fake calls it
// from its own goroutines, never while it holds its lock, so a Backend may
// call back into the fake (over HTTP or through its Go methods).
type Backend interface {
	// Launch starts an instance and returns its private IP. An error
	// fails the launch: the scaling activity records it and the instance
	// is terminated. A fake restored from a snapshot may launch an
	// instance again: Launch of an instance that runs already returns its
	// address.
	Launch(ctx context.Context, req LaunchRequest) (privateIP string, err error)
	// Terminate stops an instance for good. It too may be called again
	// after a restore.
	Terminate(ctx context.Context, instanceID string) error
	// Hold tells the instance that the provider holds it before a
	// transition (an AWS lifecycle hook's Pending:Wait or
	// Terminating:Wait, an Azure terminate notification). Real Neuwerk
	// answers a terminating hold by draining, then completing it itself.
	Hold(ctx context.Context, ev HoldEvent)
}

// LaunchRequest describes one instance to start.
type LaunchRequest struct {
	Group        string
	InstanceID   string
	ImageID      string
	Release      string // the image's ReleaseTag, "" if untagged
	InstanceType string
	Zone         string
	Tags         map[string]string
}

// HoldEvent says the provider holds an instance.
type HoldEvent struct {
	Group      string
	InstanceID string
	Hook       string // the hook's name, or the provider's word for the hold
	Transition string // the provider's name of the transition held
	Token      string // what answers the hold (AWS LifecycleActionToken, Azure event id)
}

// MemoryBackend is an in-memory Backend for tests: it hands out addresses
// 10.0.<n/250>.<n%250+4>, remembers what runs, and records every hold.
// Its zero value is ready to use.
type MemoryBackend struct {
	mu      sync.Mutex
	next    int
	running map[string]LaunchRequest
	ips     map[string]string
	stopped map[string]bool
	holds   []HoldEvent
	// LaunchErr, when set, fails every launch with it.
	LaunchErr error
	// OnHold, when set, is called for every hold (after it is recorded).
	OnHold func(HoldEvent)
}

// Launch implements Backend.
func (b *MemoryBackend) Launch(_ context.Context, req LaunchRequest) (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.LaunchErr != nil {
		return "", b.LaunchErr
	}
	if b.running == nil {
		b.running = map[string]LaunchRequest{}
		b.ips = map[string]string{}
	}
	if _, ok := b.running[req.InstanceID]; ok {
		return b.ips[req.InstanceID], nil
	}
	ip := fmt.Sprintf("10.0.%d.%d", b.next/250, b.next%250+4)
	b.next++
	b.running[req.InstanceID] = req
	b.ips[req.InstanceID] = ip
	return ip, nil
}

// Terminate implements Backend.
func (b *MemoryBackend) Terminate(_ context.Context, id string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.running, id)
	if b.stopped == nil {
		b.stopped = map[string]bool{}
	}
	b.stopped[id] = true
	return nil
}

// Terminated reports whether Terminate was called for id.
func (b *MemoryBackend) Terminated(id string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stopped[id]
}

// Hold implements Backend.
func (b *MemoryBackend) Hold(_ context.Context, ev HoldEvent) {
	b.mu.Lock()
	b.holds = append(b.holds, ev)
	on := b.OnHold
	b.mu.Unlock()
	if on != nil {
		on(ev)
	}
}

// Running reports whether id was launched and not terminated.
func (b *MemoryBackend) Running(id string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, ok := b.running[id]
	return ok
}

// Launched returns the request id was launched with.
func (b *MemoryBackend) Launched(id string) (LaunchRequest, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r, ok := b.running[id]
	return r, ok
}

// Holds returns every hold seen so far.
func (b *MemoryBackend) Holds() []HoldEvent {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]HoldEvent(nil), b.holds...)
}
