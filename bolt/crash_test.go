package bolt_test

func crashChild() bool { return false }
