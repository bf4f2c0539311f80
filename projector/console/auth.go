package console

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
)

// authorized accepts ADMIN_TOKEN as "Authorization: Bearer <token>" or as
// the password of HTTP basic auth with any user name, so a browser's own
// login prompt works. Both comparisons run in constant time.
func (c *Console) authorized(r *http.Request) bool {
	header := strings.TrimSpace(r.Header.Get("Authorization"))
	if header == "" {
		return false
	}
	got := ""
	if scheme, rest, ok := strings.Cut(header, " "); ok && strings.EqualFold(scheme, "Bearer") {
		got = strings.TrimSpace(rest)
	} else if _, password, ok := r.BasicAuth(); ok {
		got = password
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(c.cfg.Token)) == 1
}

// csrfToken is the value the dead-letter retry form must send back. It is
// derived from ADMIN_TOKEN, so a page on another site, which the browser
// would send our basic-auth credentials for, cannot know it.
func csrfToken(adminToken string) string {
	mac := hmac.New(sha256.New, []byte(adminToken))
	mac.Write([]byte("orb-sync console csrf v1"))
	return hex.EncodeToString(mac.Sum(nil))
}

// sameOrigin refuses POSTs that browsers mark as cross-site: Sec-Fetch-Site
// when sent, else Origin against Host. Requests without either (curl) pass
// on the CSRF token alone.
func sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" {
		return site == "same-origin" || site == "none"
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && u.Host == r.Host
}

// validCSRF checks the retry form's token in constant time.
func (c *Console) validCSRF(r *http.Request) bool {
	return sameOrigin(r) && subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(c.csrf)) == 1
}

// contentSecurityPolicy allows only our own stylesheet and script: no
// inline script or style, no frames, forms posting only to us.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// setSecurityHeaders marks every response: pages carry billing data, so
// nothing is cached, framed or sniffed.
func setSecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
}
