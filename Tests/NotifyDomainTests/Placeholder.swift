// NotifyDomainTests: placeholder until its first test lands.
