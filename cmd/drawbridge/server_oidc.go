package main

import (
	"errors"
	"net/http"
	"time"

	"github.com/spf13/pflag"

	"github.com/drawbridge/drawbridge/internal/oidc"
)

// oidcFlags are the server's OIDC sign-in settings. OIDC is off without an issuer.
type oidcFlags struct {
	issuer, clientID, clientSecret string
	userClaim, groupsClaim         string
	scopes                         []string
	sessionTTL                     time.Duration
}

func (f *oidcFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&f.issuer, "oidc-issuer", "", "OIDC issuer URL for sign-in with \"drawbridge login\" and the browser (default: off, API tokens only)")
	fl.StringVar(&f.clientID, "oidc-client-id", "", "OIDC client ID: the audience ID tokens must carry")
	fl.StringVar(&f.clientSecret, "oidc-client-secret", "", "OIDC client secret for the browser flow, if the client is confidential (prefer env DRAWBRIDGE_OIDC_CLIENT_SECRET)")
	fl.StringVar(&f.userClaim, "oidc-user-claim", oidc.DefaultUserClaim, "ID token claim that names the user (bindings use user:<value>)")
	fl.StringVar(&f.groupsClaim, "oidc-groups-claim", oidc.DefaultGroupsClaim, "ID token claim that lists the user's groups (bindings use group:<name>); dots reach into objects")
	fl.StringSliceVar(&f.scopes, "oidc-scopes", oidc.DefaultScopes, "scopes to ask the issuer for (add groups for Dex and similar)")
	fl.DurationVar(&f.sessionTTL, "session-ttl", oidc.DefaultSessionTTL, "lifetime of a sign-in session token (1m to 24h)")
}

// verifier returns the OIDC verifier, or nil when OIDC is off. The server
// tries discovery once when it starts, only to warn early.
func (f *oidcFlags) verifier() (*oidc.Verifier, error) {
	if f.issuer == "" {
		if f.clientID != "" {
			return nil, errors.New("--oidc-client-id needs --oidc-issuer")
		}
		return nil, nil
	}
	hc := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{Proxy: http.ProxyFromEnvironment}}
	v, err := oidc.New(oidc.Config{
		Issuer: f.issuer, ClientID: f.clientID, ClientSecret: f.clientSecret,
		UserClaim: f.userClaim, GroupsClaim: f.groupsClaim, Scopes: f.scopes, SessionTTL: f.sessionTTL,
	}, hc, time.Now)
	if err != nil {
		return nil, err // names the flag in its field
	}
	return v, nil
}
