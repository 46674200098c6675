from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from mobileca.cards.selectors import card_summary_for_enterprise
from mobileca.notices.services import notices_for, unread_count


@login_required
def workbench(request: HttpRequest) -> HttpResponse:
    """「工作台」: the bidder's home. Operators go to the back office."""
    if request.user.is_staff and getattr(request.user, "enterprise_id", None) is None:
        return redirect("backoffice:home")
    enterprise_id = getattr(request.user, "enterprise_id", None)
    context: dict[str, object] = {}
    if enterprise_id is not None:
        context = {
            "latest_notices": notices_for(enterprise_id=enterprise_id, limit=5),
            "unread_notices": unread_count(enterprise_id=enterprise_id),
            "cards": card_summary_for_enterprise(enterprise_id=enterprise_id),
        }
    return render(request, "accounts/workbench.html", context)
