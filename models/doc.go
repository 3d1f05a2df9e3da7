// Package models holds the product's core domain: users, accounts, members
// and invitations, sessions and email links, passwords, indexes, videos,
// integrations and API keys. With the packages under it, it is the only
// code that speaks SQL:
//
//   - tenancy: Scope, the system door and the walls between accounts, the
//     database (Open, Migrate), ids, errors, audit log, names, policy;
//   - usage: usage events, their daily rollups, the usage report and the
//     batching recorder of API requests;
//   - billing: rate cards, plans and plan changes, bills and invoices;
//   - ratelimit and throttle: API rate limits and sign-in throttles, in the
//     database or Redis;
//   - sso: SAML connections, domains and sign-in;
//   - demo: the demo seeded into an empty database.
//
// Account-owned data is reachable only through functions that take a
// tenancy.Scope.
package models
