package node

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"

	"github.com/hashicorp/raft"
)

// Headers not forwarded by the leader proxy (facts §11).
var hopByHop = map[string]bool{
	"Host": true, "Content-Length": true, "Connection": true, "Keep-Alive": true,
	"Proxy-Authenticate": true, "Proxy-Authorization": true, "Te": true,
	"Trailer": true, "Transfer-Encoding": true, "Upgrade": true,
}

// leaderURL resolves https://<leader raft IP>:<local HTTP port><path?query>.
// ok is false when the leader is unknown or not in the membership.
func (n *node) leaderURL(r *http.Request) (string, bool) {
	addr, id := n.raft.LeaderWithID()
	if id == "" || addr == "" || id == raft.ServerID(n.id) {
		return "", false
	}
	for _, s := range n.configuration() {
		if s.ID == id {
			host := raftAddrHost(s.Address)
			return "https://" + net.JoinHostPort(host, n.httpPort) + r.URL.RequestURI(), true
		}
	}
	return "", false
}

// proxyToLeader forwards the request to the leader with its method, path,
// query, headers (minus hop-by-hop) and buffered body, checking the leader's
// certificate against the HTTP CA, and passes the answer through unchanged.
func (n *node) proxyToLeader(w http.ResponseWriter, r *http.Request) {
	url, ok := n.leaderURL(r)
	if !ok {
		writeError(w, http.StatusServiceUnavailable, "leader unknown")
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body too large: %v", err))
		return
	}
	req, err := http.NewRequestWithContext(r.Context(), r.Method, url, bytes.NewReader(body))
	if err != nil {
		writeError(w, http.StatusBadGateway, err.Error())
		return
	}
	copyHeaders(req.Header, r.Header)
	resp, err := n.proxyClient.Do(req)
	if err != nil {
		writeError(w, http.StatusBadGateway, sendError(url))
		return
	}
	defer resp.Body.Close()
	respBody, err := io.ReadAll(resp.Body)
	if err != nil {
		writeError(w, http.StatusBadGateway, "error decoding response body")
		return
	}
	copyHeaders(w.Header(), resp.Header)
	w.WriteHeader(resp.StatusCode)
	w.Write(respBody)
}

func copyHeaders(dst, src http.Header) {
	for k, vs := range src {
		if hopByHop[http.CanonicalHeaderKey(k)] {
			continue
		}
		dst.Del(k)
		for _, v := range vs {
			dst.Add(k, v)
		}
	}
}

// sendError is reqwest's message for a transport failure.
func sendError(url string) string {
	return "error sending request for url (" + url + ")"
}

// statusError is how peer HTTP errors appear in cluster sysdump failures,
// e.g. `status 403 Forbidden: {"error":"admin role required"}`.
func statusError(code int, body []byte) string {
	return fmt.Sprintf("status %d %s: %s", code, http.StatusText(code), strings.TrimSpace(string(body)))
}
