package sim

import (
	"slices"
	"testing"
)

func TestStatsOrder(t *testing.T) {
	nodes := []NodeStatus{
		{Name: "a", ReadyError: "connection refused"},
		{Name: "b"}, // answers /ready, not ready
		{Name: "c", Ready: true},
		{Name: "d", Ready: true},
	}
	if got, want := statsOrder(nodes), []int{2, 3, 1}; !slices.Equal(got, want) {
		t.Fatalf("statsOrder = %v, want %v (ready first, then the not-ready that answered)", got, want)
	}
	if got := statsOrder([]NodeStatus{{ReadyError: "down"}}); len(got) != 0 {
		t.Fatalf("statsOrder of nodes that do not answer = %v, want none", got)
	}
}
