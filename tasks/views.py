from django.shortcuts import render

from .models import Ticket


def customer_chat(request, token: str):
    """The customer's chat. The token in the URL is the only key to this one ticket."""
    ticket = Ticket.objects.select_related("brand").filter(customer_token=token).first()
    if ticket is None:
        return render(request, "chat/invalid.html", status=404)
    return render(request, "chat/customer.html", {"ticket": ticket, "ws_path": f"/ws/customer/{token}/"})
