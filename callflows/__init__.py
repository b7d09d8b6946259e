"""FastAGI call flows: the IVR menu and the callback survey."""
