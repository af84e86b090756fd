package health

import (
	"strings"
	"testing"

	"github.com/google/uuid"
)

var fixtureIDs = []struct{ node, uuid, decimal string }{
	{"A", "3f1c2a9e-7b4d-4e2a-9c1f-5a6b7c8d9e0f", idA},
	{"B", "8a7d5c21-0e4b-4f3a-b2d1-9c8e7f6a5b40", idB},
	{"C", "c2e4f6a8-1b3d-4c5e-8f70-a1b2c3d4e5f6", idC},
}

func TestNodeIDFixtures(t *testing.T) {
	for _, f := range fixtureIDs {
		t.Run(f.node, func(t *testing.T) {
			got, err := NodeIDFromUUID(f.uuid + "\n") // as read from <data_root>/node_id
			if err != nil {
				t.Fatal(err)
			}
			if got != f.decimal {
				t.Errorf("NodeIDFromUUID(%s) = %s, want %s", f.uuid, got, f.decimal)
			}
			back, err := UUIDFromNodeID(f.decimal)
			if err != nil {
				t.Fatal(err)
			}
			if back != f.uuid {
				t.Errorf("UUIDFromNodeID(%s) = %s, want %s", f.decimal, back, f.uuid)
			}
		})
	}
}

func TestNodeIDEdges(t *testing.T) {
	zero, err := NodeIDFromUUID("00000000-0000-0000-0000-000000000000")
	if err != nil || zero != "0" {
		t.Errorf("zero UUID = %q, %v; want \"0\"", zero, err)
	}
	maxID, err := NodeIDFromUUID("ffffffff-ffff-ffff-ffff-ffffffffffff")
	if err != nil || maxID != "340282366920938463463374607431768211455" {
		t.Errorf("max UUID = %q, %v", maxID, err)
	}
	if u, err := UUIDFromNodeID("340282366920938463463374607431768211455"); err != nil || u != "ffffffff-ffff-ffff-ffff-ffffffffffff" {
		t.Errorf("max decimal = %q, %v", u, err)
	}
	for _, bad := range []string{"", "not-a-uuid", "3f1c2a9e-7b4d-4e2a-9c1f"} {
		if _, err := NodeIDFromUUID(bad); err == nil {
			t.Errorf("NodeIDFromUUID(%q) succeeded", bad)
		}
	}
	for _, bad := range []string{"", "-1", "+83887612463901818417196338898998763023", "0083", "12a",
		"340282366920938463463374607431768211456", "1e5", "3f1c2a9e-7b4d-4e2a-9c1f-5a6b7c8d9e0f"} {
		if _, err := UUIDFromNodeID(bad); err == nil {
			t.Errorf("UUIDFromNodeID(%q) succeeded", bad)
		}
	}
}

// FuzzNodeIDRoundTrip: any 16 bytes survive UUID → decimal → UUID, and a
// decimal the converter accepts survives decimal → UUID → decimal.
func FuzzNodeIDRoundTrip(f *testing.F) {
	for _, fx := range fixtureIDs {
		u := uuid.MustParse(fx.uuid)
		f.Add(u[:], fx.decimal)
	}
	f.Add(make([]byte, 16), "0")
	f.Fuzz(func(t *testing.T, raw []byte, decimal string) {
		if len(raw) >= 16 {
			u := uuid.UUID(raw[:16])
			d, err := NodeIDFromUUID(u.String())
			if err != nil {
				t.Fatalf("NodeIDFromUUID(%s): %v", u, err)
			}
			back, err := UUIDFromNodeID(d)
			if err != nil {
				t.Fatalf("UUIDFromNodeID(%s): %v", d, err)
			}
			if back != u.String() {
				t.Fatalf("round trip %s → %s → %s", u, d, back)
			}
		}
		u, err := UUIDFromNodeID(decimal)
		if err != nil {
			return
		}
		d, err := NodeIDFromUUID(u)
		if err != nil {
			t.Fatalf("NodeIDFromUUID(%s): %v", u, err)
		}
		if d != strings.TrimSpace(decimal) {
			t.Fatalf("round trip %q → %s → %s", decimal, u, d)
		}
	})
}
