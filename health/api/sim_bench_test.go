package api_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nwroll/nwroll/health/api"
	"github.com/nwroll/nwroll/sim"
	"github.com/nwroll/nwroll/sim/simtest"
)

// BenchmarkRefreshSimulated measures one full refresh of a real simulated
// cluster: /health, /ready and /metrics on every node plus one stats and one
// members call, as the console does about once a second.
//
//	go test -run '^$' -bench RefreshSimulated -benchtime 50x ./health/
func BenchmarkRefreshSimulated(b *testing.B) {
	if testing.Short() {
		b.Skip("starts simulated clusters")
	}
	for _, nodes := range []int{3, 9, 25} {
		b.Run(fmt.Sprintf("nodes=%d", nodes), func(b *testing.B) {
			c := simtest.Start(b, sim.Options{Nodes: nodes})
			tok, err := c.MintToken(context.Background(), c.Info().Nodes[0].Name, false, 10*time.Minute)
			if err != nil {
				b.Fatal(err)
			}
			var clients []*api.Client
			for _, n := range c.Info().Nodes {
				cl, err := api.NewClient(api.Config{
					Name: n.Name, NodeID: n.NodeID, APIURL: n.APIURL, MetricsURL: n.MetricsURL,
					CAFile: n.CAPath, Token: tok,
				})
				if err != nil {
					b.Fatal(err)
				}
				clients = append(clients, cl)
			}
			ctx := context.Background()
			api.Refresh(ctx, clients) // warm the connections
			b.Run("sequential-baseline", func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					for _, cl := range clients {
						if _, err := cl.Health(ctx); err != nil {
							b.Fatal(err)
						}
						if _, err := cl.Ready(ctx); err != nil {
							b.Fatal(err)
						}
						if _, err := cl.Metrics(ctx); err != nil {
							b.Fatal(err)
						}
					}
					if _, err := clients[0].Stats(ctx); err != nil {
						b.Fatal(err)
					}
					if _, err := clients[0].Members(ctx); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("refresh", func(b *testing.B) {
				benchRefresh(b, ctx, clients)
			})
		})
	}
}

func benchRefresh(b *testing.B, ctx context.Context, clients []*api.Client) {
	for i := 0; i < b.N; i++ {
		snap := api.Refresh(ctx, clients)
		if snap.Stats == nil || len(snap.Nodes) != len(clients) {
			b.Fatalf("refresh incomplete: stats err %v", snap.StatsErr)
		}
		for _, n := range snap.Nodes {
			if n.ReadyErr != nil || n.MetricsErr != nil {
				b.Fatalf("%s: ready %v metrics %v", n.Name, n.ReadyErr, n.MetricsErr)
			}
		}
	}
}
