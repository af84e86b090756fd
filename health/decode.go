package health

import (
	"encoding/json"
	"errors"
	"fmt"
)

// DecodeHealth decodes a GET /health body.
func DecodeHealth(b []byte) (HealthResponse, error) {
	var out HealthResponse
	err := DecodeStrict(b, &out, "status")
	return out, err
}

// DecodeReady decodes a GET /ready body (200 or 503). It requires the
// "ready" and "checks" keys and a name on every check.
func DecodeReady(b []byte) (ReadyResponse, error) {
	var out ReadyResponse
	if err := DecodeStrict(b, &out, "ready", "checks"); err != nil {
		return ReadyResponse{}, err
	}
	for i, ch := range out.Checks {
		if ch.Name == "" {
			return ReadyResponse{}, fmt.Errorf("/ready check %d has no name", i)
		}
	}
	return out, nil
}

// DecodeStats decodes a GET /api/v1/stats body. It requires the "cluster"
// key and a node_id and role on every cluster node row.
func DecodeStats(b []byte) (Stats, error) {
	var out Stats
	if err := DecodeStrict(b, &out, "cluster"); err != nil {
		return Stats{}, err
	}
	for i, n := range out.Cluster.Nodes {
		if n.NodeID == "" || n.Role == "" {
			return Stats{}, fmt.Errorf("stats cluster.nodes[%d] lacks node_id or role", i)
		}
	}
	return out, nil
}

// DecodeMembers decodes a GET /api/v1/cluster/members body. It requires the
// "members" key and a node_id on every member.
func DecodeMembers(b []byte) (MembersResponse, error) {
	var out MembersResponse
	if err := DecodeStrict(b, &out, "members"); err != nil {
		return MembersResponse{}, err
	}
	for i, m := range out.Members {
		if m.NodeID == "" {
			return MembersResponse{}, fmt.Errorf("members[%d] has no node_id", i)
		}
	}
	return out, nil
}

// DecodeStrict unmarshals a JSON object into v and checks that the
// required top-level keys are present (a missing key would otherwise
// silently decode as a zero value, e.g. "ready": false). The decoders of
// health/api and health/sysdump use it too.
func DecodeStrict(b []byte, v any, required ...string) error {
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(b, &keys); err != nil {
		return fmt.Errorf("not a JSON object: %w", err)
	}
	if keys == nil {
		return errors.New("not a JSON object: null")
	}
	for _, k := range required {
		raw, ok := keys[k]
		if !ok || string(raw) == "null" {
			return fmt.Errorf("missing %q", k)
		}
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("bad JSON shape: %w", err)
	}
	return nil
}
