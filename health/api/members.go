package api

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"

	"github.com/nwroll/nwroll/health"
)

// RemoveMember is POST /api/v1/cluster/members/{id}/remove with
// {"force":false} (facts §8): any node proxies it to the leader, which
// refuses removing itself and going below min_voters (400), and answers
// 503 while no leader is known. It answers the membership after.
func (c *Client) RemoveMember(parent context.Context, nodeID string) (health.MembersResponse, error) {
	var out health.MembersResponse
	base := c.apiURL.String()
	path := health.PathMembers + "/" + url.PathEscape(nodeID) + "/remove"
	ctx, cancel := context.WithTimeout(parent, c.timeouts.API)
	defer cancel()
	body, _ := json.Marshal(map[string]bool{"force": false})
	resp, err := c.doBody(parent, ctx, c.api, http.MethodPost, base, path, true, http.Header{"Content-Type": {"application/json"}}, body)
	if err != nil {
		return out, err
	}
	defer drainClose(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return out, c.apiError(resp, http.MethodPost, base, path)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxJSONBody))
	if err != nil {
		return out, c.transportError(parent, ctx, http.MethodPost, path, base, err)
	}
	if len(b) > 0 {
		if out, err = health.DecodeMembers(b); err != nil {
			return out, c.badAnswer(http.MethodPost, path, base, err)
		}
	}
	return out, nil
}
