package sso_test
