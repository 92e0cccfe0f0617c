// NotifyTLSTests: placeholder until its first test lands.
