package main

func benchRSS(cfg *config, rep *report) error    { return nil }
func benchRevoke(cfg *config, rep *report) error { return nil }
func benchScale(cfg *config, rep *report) error  { return nil }

const helloServerArg = "__hello-server"

func runHelloServer() error { return nil }
