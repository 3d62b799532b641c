package web

import (
	"net/http"

	d "github.com/drawbridge/drawbridge"
	"github.com/drawbridge/drawbridge/internal/control"
)

// Handlers for outbound webhooks and their deliveries (admin only; the
// Service checks).

func (s *Server) handleWebhookCreate(w http.ResponseWriter, r *http.Request, a d.Actor) error {
	var in d.WebhookInput
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	hook, err := s.svc.WebhookCreate(r.Context(), a, in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, hook) // the only answer that carries the secret
	return nil
}

func (s *Server) handleWebhookList(w http.ResponseWriter, r *http.Request, a d.Actor) error {
	ws, err := s.svc.Webhooks(r.Context(), a)
	if err != nil {
		return err
	}
	if ws == nil {
		ws = []d.Webhook{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"webhooks": listOf(ws)})
	return nil
}

func (s *Server) handleWebhookDelete(w http.ResponseWriter, r *http.Request, a d.Actor) error {
	if err := s.svc.WebhookDelete(r.Context(), a, d.WebhookID(r.PathValue("id"))); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleWebhookTest(w http.ResponseWriter, r *http.Request, a d.Actor) error {
	v, err := s.svc.WebhookTest(r.Context(), a, d.WebhookID(r.PathValue("id")))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, v)
	return nil
}

func (s *Server) handleDeliveryList(w http.ResponseWriter, r *http.Request, a d.Actor) error {
	q := r.URL.Query()
	f := control.DeliveryFilter{WebhookID: d.WebhookID(q.Get("webhook")), Status: d.DeliveryStatus(q.Get("status"))}
	if f.WebhookID != "" && !d.ValidID(string(f.WebhookID), d.WebhookPrefix) {
		return d.FieldErrorf("webhook", "webhook must be a webhook ID (whk_…), not %s", d.Excerpt(string(f.WebhookID)))
	}
	switch f.Status {
	case "", d.DeliveryPending, d.DeliveryDelivered, d.DeliveryDead:
	default:
		return d.FieldErrorf("status", "status must be pending, delivered or dead, not %s", d.Excerpt(string(f.Status)))
	}
	var err error
	if f.Limit, err = intParam(q.Get("limit"), "limit", control.MaxLimit); err != nil {
		return err
	}
	vs, err := s.svc.Deliveries(r.Context(), a, f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"deliveries": listOf(vs)})
	return nil
}

func (s *Server) handleDeliveryGet(w http.ResponseWriter, r *http.Request, a d.Actor) error {
	v, err := s.svc.Delivery(r.Context(), a, d.DeliveryID(r.PathValue("id")))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (s *Server) handleDeliveryRetry(w http.ResponseWriter, r *http.Request, a d.Actor) error {
	v, err := s.svc.DeliveryRetry(r.Context(), a, d.DeliveryID(r.PathValue("id")))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}
