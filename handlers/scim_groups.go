package handlers

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	filter "github.com/scim2/filter-parser/v2"

	"switchboard/models/scim"
	"switchboard/views/paths"
)

type scimGroupJSON struct {
	Schemas     []string  `json:"schemas"`
	ID          string    `json:"id"`
	ExternalID  string    `json:"externalId,omitempty"`
	DisplayName string    `json:"displayName"`
	Members     []scimRef `json:"members,omitempty"`
	Meta        scimMeta  `json:"meta"`
}

func (h *SCIM) groupJSON(g scim.GroupResource) scimGroupJSON {
	out := scimGroupJSON{Schemas: []string{scimGroupSchema}, ID: g.PublicID, ExternalID: g.ExternalID, DisplayName: g.DisplayName,
		Meta: scimMeta{ResourceType: "Group", Created: scimTime(g.CreatedAt), LastModified: scimTime(g.UpdatedAt), Location: h.cfg.link(paths.SCIMGroup(g.PublicID))}}
	for _, m := range g.Members {
		out.Members = append(out.Members, scimRef{Value: m.ID, Display: m.Display, Ref: h.cfg.link(paths.SCIMUser(m.ID))})
	}
	return out
}

// withMembers reports whether the client wants groups' members: Entra asks
// for none with excludedAttributes=members.
func withMembers(c echo.Context) bool {
	for _, a := range strings.Split(c.QueryParam("excludedAttributes"), ",") {
		if strings.EqualFold(strings.TrimSpace(a), "members") {
			return false
		}
	}
	return true
}

// memberValues reads a members value: a list of {"value": id}, or one.
func memberValues(raw json.RawMessage) ([]string, error) {
	var list []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		var one map[string]json.RawMessage
		if err := json.Unmarshal(raw, &one); err != nil || one == nil {
			return nil, scimInvalid("invalidValue", `members must be a list of {"value": "<user id>"}.`)
		}
		list = append(list, one)
	}
	ids := make([]string, 0, len(list))
	for _, m := range list {
		v, err := lowerKeys(m).str("value")
		if err != nil {
			return nil, err
		}
		if v == "" || !plainParam(v) {
			return nil, scimInvalid("invalidValue", "A member's value must be a user's id.")
		}
		ids = append(ids, v)
	}
	if len(ids) > scim.MaxGroupMembers {
		return nil, scimInvalid("invalidValue", "A request may name at most 1000 members.")
	}
	return ids, nil
}

func groupInput(a attrs) (scim.GroupInput, error) {
	var in scim.GroupInput
	var err error
	if in.DisplayName, err = a.str("displayname"); err != nil {
		return in, err
	}
	if in.ExternalID, err = a.str("externalid"); err != nil {
		return in, err
	}
	if a.has("members") {
		if in.Members, err = memberValues(a["members"]); err != nil {
			return in, err
		}
	}
	return in, nil
}

// ListGroups answers GET /Groups, with filter, startIndex and count.
func (h *SCIM) ListGroups(c echo.Context) error {
	start, count, err := scimListParams(c)
	if err != nil {
		return err
	}
	var f scim.Filter
	if raw := c.QueryParam("filter"); raw != "" {
		if f, err = scim.ParseGroupFilter(raw); err != nil {
			return err
		}
	}
	gs, total, err := scim.ListGroups(c.Request().Context(), h.db, ScopeFrom(c), f, start, count, withMembers(c))
	if err != nil {
		return err
	}
	list := scimList{Schemas: []string{scimListSchema}, TotalResults: total, StartIndex: start, ItemsPerPage: len(gs), Resources: []any{}}
	for _, g := range gs {
		list.Resources = append(list.Resources, h.groupJSON(g))
	}
	return scimJSON(c, http.StatusOK, list)
}

// GetGroup answers GET /Groups/:id.
func (h *SCIM) GetGroup(c echo.Context) error {
	g, err := scim.GetGroup(c.Request().Context(), h.db, ScopeFrom(c), c.Param("id"), withMembers(c))
	if err != nil {
		return err
	}
	return scimJSON(c, http.StatusOK, h.groupJSON(g))
}

// CreateGroup answers POST /Groups.
func (h *SCIM) CreateGroup(c echo.Context) error {
	a, err := readBody(c)
	if err != nil {
		return err
	}
	in, err := groupInput(a)
	if err != nil {
		return err
	}
	g, err := scim.CreateGroup(c.Request().Context(), h.db, ScopeFrom(c), in)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Location", h.cfg.link(paths.SCIMGroup(g.PublicID)))
	return scimJSON(c, http.StatusCreated, h.groupJSON(g))
}

// ReplaceGroup answers PUT /Groups/:id: the name and the whole member list.
func (h *SCIM) ReplaceGroup(c echo.Context) error {
	a, err := readBody(c)
	if err != nil {
		return err
	}
	in, err := groupInput(a)
	if err != nil {
		return err
	}
	members := in.Members
	if members == nil {
		members = []string{}
	}
	g, err := scim.UpdateGroup(c.Request().Context(), h.db, ScopeFrom(c), c.Param("id"),
		scim.GroupChanges{DisplayName: &in.DisplayName, ExternalID: &in.ExternalID, Members: &members})
	if err != nil {
		return err
	}
	return scimJSON(c, http.StatusOK, h.groupJSON(g))
}

// DeleteGroup answers DELETE /Groups/:id.
func (h *SCIM) DeleteGroup(c echo.Context) error {
	if err := scim.DeleteGroup(c.Request().Context(), h.db, ScopeFrom(c), c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// PatchGroup answers PATCH /Groups/:id: Entra's add and remove of members
// (path "members", values [{"value": id}]), Okta's remove by
// `members[value eq "id"]` and its path-less replace of displayName, and a
// replace of displayName or externalId.
func (h *SCIM) PatchGroup(c echo.Context) error {
	a, err := readBody(c)
	if err != nil {
		return err
	}
	ops, err := patchOps(a)
	if err != nil {
		return err
	}
	var ch scim.GroupChanges
	for _, op := range ops {
		if err := groupOp(&ch, op); err != nil {
			return err
		}
	}
	g, err := scim.UpdateGroup(c.Request().Context(), h.db, ScopeFrom(c), c.Param("id"), ch)
	if err != nil {
		return err
	}
	if !withMembers(c) {
		g.Members = nil
	}
	return scimJSON(c, http.StatusOK, h.groupJSON(g))
}

func groupOp(ch *scim.GroupChanges, op patchOp) error {
	str := func(field string, raw json.RawMessage, dst **string) error {
		if op.op == "remove" {
			if field == "displayName" {
				return scimInvalid("mutability", "displayName is required and cannot be removed.")
			}
			empty := ""
			*dst = &empty
			return nil
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return scimInvalid("invalidValue", field+" must be a string.")
		}
		*dst = &s
		return nil
	}
	path := strings.ToLower(strings.TrimPrefix(strings.TrimSpace(op.path), scimGroupSchema+":"))
	switch {
	case path == "":
		if op.op == "remove" {
			return scimInvalid("noTarget", "A remove operation needs a path.")
		}
		obj, err := asObject("value", op.value)
		if err != nil {
			return err
		}
		for k, v := range obj {
			if err := groupOp(ch, patchOp{op: op.op, path: k, value: v}); err != nil {
				return err
			}
		}
	case path == "displayname":
		return str("displayName", op.value, &ch.DisplayName)
	case path == "externalid":
		return str("externalId", op.value, &ch.ExternalID)
	case path == "id", path == "schemas", path == "meta":
	case path == "members":
		var ids []string
		if op.value != nil && string(op.value) != "null" {
			var err error
			if ids, err = memberValues(op.value); err != nil {
				return err
			}
		}
		switch op.op {
		case "add":
			ch.Add = append(ch.Add, ids...)
		case "replace":
			if ids == nil {
				ids = []string{}
			}
			ch.Members, ch.Add, ch.Remove = &ids, nil, nil
		case "remove":
			if ids == nil {
				// No value: every member goes (RFC 7644 §3.5.2.2).
				none := []string{}
				ch.Members, ch.Add, ch.Remove = &none, nil, nil
			}
			ch.Remove = append(ch.Remove, ids...)
		}
	case strings.HasPrefix(path, "members["):
		id, err := memberFilterID(op.path)
		if err != nil {
			return err
		}
		if op.op != "remove" {
			return scimInvalid("invalidPath", `Add members with the path "members" and a value.`)
		}
		ch.Remove = append(ch.Remove, id)
	default:
		return scimInvalid("invalidPath", "The path "+op.path+" is not one of a group's attributes.")
	}
	return nil
}

// memberFilterID reads the id of `members[value eq "id"]`.
func memberFilterID(path string) (string, error) {
	p, err := filter.ParsePath([]byte(path))
	if err != nil || p.SubAttribute != nil || !strings.EqualFold(p.AttributePath.AttributeName, "members") {
		return "", scimInvalid("invalidPath", `Name a member as members[value eq "<user id>"].`)
	}
	e, ok := p.ValueExpression.(*filter.AttributeExpression)
	if !ok || !strings.EqualFold(e.AttributePath.AttributeName, "value") || e.AttributePath.SubAttribute != nil || e.Operator != filter.EQ {
		return "", scimInvalid("invalidPath", `Name a member as members[value eq "<user id>"].`)
	}
	id, ok := e.CompareValue.(string)
	if !ok || id == "" || !plainParam(id) {
		return "", scimInvalid("invalidPath", `Name a member as members[value eq "<user id>"].`)
	}
	return id, nil
}
