"""Cases (工单): complaints and requests from the hotlines, from filing to verified closing."""
