// NotifyEndToEndTests: placeholder until its first test lands.
