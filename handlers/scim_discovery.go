package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"switchboard/models/scim"
	"switchboard/models/tenancy"
	"switchboard/views/paths"
)

// Discovery (RFC 7644 §4): what the endpoint supports, the schemas of its
// resources and their types. The same for every organization; a token is
// still required, like every SCIM request.

// ServiceProviderConfig answers GET /ServiceProviderConfig.
func (h *SCIM) ServiceProviderConfig(c echo.Context) error {
	type supported struct {
		Supported bool `json:"supported"`
	}
	body := map[string]any{
		"schemas":          []string{"urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"},
		"documentationUri": h.cfg.link(paths.SSOSettings()),
		"patch":            supported{true},
		"bulk":             map[string]any{"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
		"filter":           map[string]any{"supported": true, "maxResults": scim.MaxCount},
		"changePassword":   supported{false},
		"sort":             supported{false},
		"etag":             supported{false},
		"authenticationSchemes": []map[string]any{{
			"type": "oauthbearertoken", "name": "Bearer token", "primary": true,
			"description": "A token an administrator creates in Settings › Single sign-on › Provisioning, sent as Authorization: Bearer <token>.",
		}},
		"meta": map[string]any{"resourceType": "ServiceProviderConfig", "location": h.cfg.link(paths.SCIMServiceProviderConfig())},
	}
	return scimJSON(c, http.StatusOK, body)
}

type scimAttr struct {
	Name          string     `json:"name"`
	Type          string     `json:"type"`
	MultiValued   bool       `json:"multiValued"`
	Description   string     `json:"description"`
	Required      bool       `json:"required"`
	CaseExact     bool       `json:"caseExact"`
	Mutability    string     `json:"mutability"`
	Returned      string     `json:"returned"`
	Uniqueness    string     `json:"uniqueness"`
	SubAttributes []scimAttr `json:"subAttributes,omitempty"`
}

func attr(name, typ, desc string) scimAttr {
	return scimAttr{Name: name, Type: typ, Description: desc, Mutability: "readWrite", Returned: "default", Uniqueness: "none"}
}

func (h *SCIM) schemas() []map[string]any {
	userName := attr("userName", "string", "The identity provider's unique name for the user; unique in the organization, case-insensitively.")
	userName.Required, userName.Uniqueness = true, "server"
	externalID := attr("externalId", "string", "The identity provider's identifier of the user.")
	externalID.CaseExact = true
	emails := attr("emails", "complex", "The user's work email address; it changes only within domains the organization proved.")
	emails.MultiValued = true
	emails.SubAttributes = []scimAttr{attr("value", "string", "The address."), attr("type", "string", "\"work\"."), attr("primary", "boolean", "Always true.")}
	name := attr("name", "complex", "The user's name.")
	name.SubAttributes = []scimAttr{attr("givenName", "string", "Given name."), attr("familyName", "string", "Family name."), attr("formatted", "string", "The full name.")}
	groups := attr("groups", "complex", "The groups the user belongs to; change them by PATCHing the groups.")
	groups.MultiValued, groups.Mutability = true, "readOnly"
	groups.SubAttributes = []scimAttr{attr("value", "string", "The group's id."), attr("display", "string", "The group's name.")}
	display := attr("displayName", "string", "The group's name; the one chosen in the settings maps its members to administrators.")
	display.Required, display.Uniqueness = true, "server"
	members := attr("members", "complex", "The group's members.")
	members.MultiValued = true
	members.SubAttributes = []scimAttr{attr("value", "string", "A user's id."), attr("display", "string", "The user's name.")}
	meta := func(id string) map[string]any {
		return map[string]any{"resourceType": "Schema", "location": h.cfg.link(paths.SCIMSchema(id))}
	}
	return []map[string]any{
		{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Schema"}, "id": scimUserSchema, "name": "User", "description": "A member provisioned by the identity provider.",
			"attributes": []scimAttr{userName, externalID, name, attr("displayName", "string", "The name the user goes by."), emails,
				attr("active", "boolean", "false removes the organization membership as a manual removal does; true restores it."), groups},
			"meta": meta(scimUserSchema)},
		{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Schema"}, "id": scimGroupSchema, "name": "Group", "description": "A group of provisioned users.",
			"attributes": []scimAttr{display, members, externalID}, "meta": meta(scimGroupSchema)},
	}
}

func (h *SCIM) resourceTypes() []map[string]any {
	rt := func(name, endpoint, schema string) map[string]any {
		return map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:ResourceType"}, "id": name, "name": name,
			"endpoint": endpoint, "schema": schema, "meta": map[string]any{"resourceType": "ResourceType", "location": h.cfg.link(paths.SCIMResourceType(name))}}
	}
	return []map[string]any{rt("User", "/Users", scimUserSchema), rt("Group", "/Groups", scimGroupSchema)}
}

func discoveryList(items []map[string]any) scimList {
	l := scimList{Schemas: []string{scimListSchema}, TotalResults: int64(len(items)), StartIndex: 1, ItemsPerPage: len(items)}
	for _, it := range items {
		l.Resources = append(l.Resources, it)
	}
	return l
}

func discoveryItem(items []map[string]any, id string) (map[string]any, error) {
	for _, it := range items {
		if it["id"] == id {
			return it, nil
		}
	}
	return nil, tenancy.ErrNotFound
}

// Schemas answers GET /Schemas.
func (h *SCIM) Schemas(c echo.Context) error {
	return scimJSON(c, http.StatusOK, discoveryList(h.schemas()))
}

// Schema answers GET /Schemas/:id.
func (h *SCIM) Schema(c echo.Context) error {
	it, err := discoveryItem(h.schemas(), c.Param("id"))
	if err != nil {
		return err
	}
	return scimJSON(c, http.StatusOK, it)
}

// ResourceTypes answers GET /ResourceTypes.
func (h *SCIM) ResourceTypes(c echo.Context) error {
	return scimJSON(c, http.StatusOK, discoveryList(h.resourceTypes()))
}

// ResourceType answers GET /ResourceTypes/:id.
func (h *SCIM) ResourceType(c echo.Context) error {
	it, err := discoveryItem(h.resourceTypes(), c.Param("id"))
	if err != nil {
		return err
	}
	return scimJSON(c, http.StatusOK, it)
}
