package drawbridge

// ExtendInput asks for more time on an active request.
type ExtendInput struct {
	By     string `json:"by"` // e.g. 30m
	Reason string `json:"reason,omitempty"`
}
