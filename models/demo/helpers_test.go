package demo_test
