package drawbridge

import (
	"fmt"
	"regexp"
	"slices"
	"sync"
	"time"
)

// BindingInput binds a subject to a role at a scope.
type BindingInput struct {
	Subject string `json:"subject"` // user:<name>, group:<name> or token:<token ID>
	Role    Role   `json:"role"`
	Scope   string `json:"scope,omitempty"` // *, machine:<name or ID>, or a label selector such as env=prod; default *
}

// RoleInput defines a custom role (the server sets the creation fields).
type RoleInput struct {
	Name    Role     `json:"name"`
	Actions []Action `json:"actions"`
}

// Binding gives a subject a role at a scope. Subjects: "user:<name>",
// "group:<name>" (from the identity provider) or "token:<token ID>".
type Binding struct {
	ID        string    `json:"id"`
	Subject   string    `json:"subject"`
	Role      Role      `json:"role"`
	Scope     Scope     `json:"scope"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"`
}

// BindingPrefix prefixes binding IDs.
const BindingPrefix = "bnd_"

var subjectRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^(user|group):[^\s,]{1,256}$|^token:tok_[a-z0-9]{8,40}$`)
})

// ValidateSubject checks a binding subject.
func ValidateSubject(s string) error {
	if err := CheckText("subject", s, 300); err != nil {
		return err
	}
	if !subjectRE().MatchString(s) {
		return FieldErrorf("subject", "subject %s: want user:<name>, group:<name> or token:<token ID>", Excerpt(s))
	}
	return nil
}

// CustomRole is a role defined by an admin as a list of actions.
type CustomRole struct {
	Name      Role      `json:"name"`
	Actions   []Action  `json:"actions"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"`
}

var roleNameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z][a-z0-9-]{1,39}$`) })

// ValidateCustomRole checks a custom role: a new name (not a built-in) and
// known actions.
func ValidateCustomRole(r CustomRole) error {
	if !roleNameRE().MatchString(string(r.Name)) {
		return FieldErrorf("name", "role name %s: want 2–40 lowercase letters, digits or '-'", Excerpt(string(r.Name)))
	}
	if r.Name.Valid() {
		return FieldErrorf("name", "%q is a built-in role", r.Name)
	}
	if len(r.Actions) == 0 {
		return FieldErrorf("actions", "a role needs at least one action")
	}
	for i, a := range r.Actions {
		if !slices.Contains(AllActions(), a) {
			return FieldErrorf(fmt.Sprintf("actions[%d]", i), "unknown action %s", Excerpt(string(a)))
		}
	}
	return nil
}
