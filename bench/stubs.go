package main

func benchScale(cfg *config, rep *report) error  { return nil }
