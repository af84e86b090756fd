package node

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// API auth (facts §5): EdDSA JWTs from the shared keyset, Bearer header or
// neuwerk_auth cookie, 60 s leeway, GET needs any valid token and every other
// method needs the admin role.
const (
	apiIssuer   = "neuwerk-api"
	authCookie  = "neuwerk_auth"
	jwtLeeway   = 60 * time.Second
	adminRole   = "admin"
	defaultTTL  = 90 * 24 * time.Hour
	maxTokenLen = 8192
)

// apiClaims are the claims Neuwerk puts in API tokens.
type apiClaims struct {
	jwt.RegisteredClaims
	Roles []string `json:"roles,omitempty"`
	SAID  *string  `json:"sa_id,omitempty"`
	Scope *string  `json:"scope,omitempty"`
}

// MintToken signs an API token with the keyset's active key, as
// `neuwerk auth token mint` does. With no roles the token has no roles claim
// and is good for GETs only.
func MintToken(keys APIKeyset, sub string, roles []string, ttl time.Duration, now time.Time) (string, error) {
	if sub == "" {
		return "", errors.New("token subject is required")
	}
	if ttl <= 0 {
		return "", errors.New("token ttl must be positive")
	}
	kid, priv, err := keys.signingKey()
	if err != nil {
		return "", err
	}
	// A map keeps "aud" a plain string, as Neuwerk issues it.
	claims := jwt.MapClaims{
		"iss": apiIssuer, "aud": apiIssuer, "sub": sub,
		"exp": now.Add(ttl).Unix(), "iat": now.Unix(), "jti": newUUID(),
	}
	if len(roles) > 0 {
		claims["roles"] = roles
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	tok.Header["kid"] = kid
	return tok.SignedString(priv)
}

// authFailure is a rejected request: status, message and metric reason.
type authFailure struct {
	status int
	msg    string
	reason string
}

// extractToken finds the bearer token in the Authorization header, falling
// back to the neuwerk_auth cookie when the header is missing or malformed.
func extractToken(r *http.Request) (string, *authFailure) {
	cookie := ""
	if c, err := r.Cookie(authCookie); err == nil {
		cookie = c.Value
	}
	h := r.Header.Get("Authorization")
	if h != "" {
		scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
		tok = strings.TrimSpace(tok)
		if ok && strings.EqualFold(scheme, "bearer") && tok != "" {
			return tok, nil
		}
		if cookie != "" {
			return cookie, nil
		}
		if !strings.EqualFold(scheme, "bearer") {
			return "", &authFailure{http.StatusUnauthorized, "invalid authorization scheme", "invalid_scheme"}
		}
	}
	if cookie != "" {
		return cookie, nil
	}
	return "", &authFailure{http.StatusUnauthorized, "missing bearer token", "missing_token"}
}

// verifyToken checks signature, issuer, audience and expiry.
func verifyToken(keys APIKeyset, raw string, now time.Time) (*apiClaims, *authFailure) {
	invalid := &authFailure{http.StatusUnauthorized, "invalid bearer token", "invalid_token"}
	if len(raw) > maxTokenLen {
		return nil, invalid
	}
	var claims apiClaims
	var keyErr error
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithIssuer(apiIssuer), jwt.WithAudience(apiIssuer),
		jwt.WithLeeway(jwtLeeway), jwt.WithTimeFunc(func() time.Time { return now }),
	)
	_, err := parser.ParseWithClaims(raw, &claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		pub, err := keys.verifyKey(kid)
		if err != nil {
			keyErr = err
			return nil, err
		}
		return pub, nil
	})
	switch {
	case errors.Is(keyErr, errUnknownKID), errors.Is(keyErr, errKeyRetired):
		return nil, &authFailure{http.StatusUnauthorized, keyErr.Error(), "invalid_token"}
	case err != nil:
		return nil, invalid
	case claims.ExpiresAt == nil:
		return nil, &authFailure{http.StatusUnauthorized, "missing jwt exp", "invalid_token"}
	}
	return &claims, nil
}

func hasRole(roles []string, want string) bool {
	for _, r := range roles {
		if strings.EqualFold(r, want) {
			return true
		}
	}
	return false
}

// authorize authenticates r and checks the method's role, writing the error
// response and counting http_auth_total. It returns nil when rejected.
func (n *node) authorize(w http.ResponseWriter, r *http.Request) *apiClaims {
	deny := func(f *authFailure) *apiClaims {
		n.metrics.auth.WithLabelValues("deny", f.reason).Inc()
		writeError(w, f.status, f.msg)
		return nil
	}
	raw, fail := extractToken(r)
	if fail != nil {
		return deny(fail)
	}
	keys, err := n.keys.get()
	if err != nil {
		return deny(&authFailure{http.StatusUnauthorized, "missing api auth keyset", "keyset_error"})
	}
	claims, fail := verifyToken(keys, raw, time.Now())
	if fail != nil {
		return deny(fail)
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead && !hasRole(claims.Roles, adminRole) {
		return deny(&authFailure{http.StatusForbidden, "admin role required", "insufficient_role"})
	}
	n.metrics.auth.WithLabelValues("allow", "valid_token").Inc()
	return claims
}

type claimsKey struct{}

func withClaims(ctx context.Context, c *apiClaims) context.Context {
	return context.WithValue(ctx, claimsKey{}, c)
}

func claimsFrom(ctx context.Context) *apiClaims {
	c, _ := ctx.Value(claimsKey{}).(*apiClaims)
	return c
}

// keysetCache re-reads api-auth.json when it changes on disk.
type keysetCache struct {
	path string

	mu   sync.Mutex
	mod  time.Time
	size int64
	keys APIKeyset
	err  error
	read bool
}

func (c *keysetCache) get() (APIKeyset, error) {
	st, err := os.Stat(c.path)
	if err != nil {
		return APIKeyset{}, fmt.Errorf("missing api auth keyset: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.read || !st.ModTime().Equal(c.mod) || st.Size() != c.size {
		c.keys, c.err = LoadAPIKeyset(c.path)
		c.mod, c.size, c.read = st.ModTime(), st.Size(), true
	}
	return c.keys, c.err
}
