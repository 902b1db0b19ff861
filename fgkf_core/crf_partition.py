"""Log-partition function of a linear-chain CRF with exact forward-backward gradients (used by `crf.CRF`).

A custom autograd Function: the forward algorithm runs without an autograd graph and the backward pass
computes the gradients from scaled forward-backward marginals (see `_LogPartition`).
"""
from __future__ import annotations

import torch

# Largest spread max(T) - min(T) of the transition matrix for which the
# matmul form of the log-sum-exp recursion is used. Contributions that can be
# lost to float32 underflow are then < num_tags * exp(-87 + 40) relative to
# the total, i.e. far below machine precision; otherwise (e.g. hard
# constraints with -1e4 or -inf transitions) the exact logsumexp path is used.
_MATMUL_MAX_SPREAD = 40.0


def _matmul_ok(transitions: torch.Tensor) -> tuple[bool, torch.Tensor]:
    """Whether the exp/matmul recursion is safe, and max(transitions)."""
    t_min, t_max = torch.aminmax(transitions.detach())
    spread = float(t_max - t_min)  # single sync per call, outside the time loop
    return spread < _MATMUL_MAX_SPREAD, t_max


class _LogPartition(torch.autograd.Function):
    """log Z(x) of a linear-chain CRF with exact forward-backward gradients.

    Scaled forward-backward in log space: alpha_t = a_hat_t + S_t with
    a_hat_t = alpha_t - S_t normalised so that max_j a_hat_t[j] = 0 and
    S_t = s_0 + ... + s_t the accumulated per-step scales (0 at padding). The
    backward recursion reuses the forward scales, beta_t = b_hat_t + log Z - S_t,
    so that marginals are exp(a_hat_t + b_hat_t) without subtracting large
    accumulated quantities (same accuracy as back-propagating through the
    pytorch-crf recursion, even for emissions with a large dynamic range).

    All inputs must share one floating dtype; ``mask`` is a bool prefix mask.
    """

    @staticmethod
    def forward(  # type: ignore[override]
        ctx,
        emissions: torch.Tensor,
        mask: torch.Tensor,
        start: torch.Tensor,
        end: torch.Tensor,
        transitions: torch.Tensor,
    ) -> torch.Tensor:
        # emissions: (batch_size, seq_length, num_tags); mask: (batch_size, seq_length)
        seq_length = emissions.size(1)
        # shape: (seq_length, batch_size, num_tags)
        em = emissions.transpose(0, 1).contiguous()
        # shape: (seq_length, batch_size, 1)
        mask_t = mask.t().unsqueeze(2)
        # per-time-step views (one call instead of seq_length indexing ops)
        mask_steps = mask_t.unbind(0)
        use_mm, t_max = _matmul_ok(transitions)

        # shape: (batch_size, num_tags)
        a_hat = start + em[0]
        # shape: (batch_size, 1)
        scale = a_hat.amax(1, keepdim=True)
        # shape: (batch_size, num_tags)
        a_hat = a_hat - scale
        a_hats, scales = [a_hat], [scale]
        if use_mm:
            # logsumexp_i(a_hat[i] + T[i, j]) = log(exp(a_hat) @ exp(T - t_max)) + t_max,
            # safe because max(a_hat) = 0 and exp(T - t_max) >= exp(-spread)
            # shape: (num_tags, num_tags)
            exp_trans = torch.exp(transitions - t_max)
            em_steps = (em + t_max).unbind(0)
            for t in range(1, seq_length):
                # shape: (batch_size, num_tags)
                nxt = torch.mm(a_hat.exp(), exp_trans).log_().add_(em_steps[t])
                # shape: (batch_size, 1)
                scale = nxt.amax(1, keepdim=True)
                # shape: (batch_size, num_tags)
                a_hat = torch.where(mask_steps[t], nxt.sub_(scale), a_hat)
                a_hats.append(a_hat)
                scales.append(scale)
        else:
            # shape: (1, num_tags, num_tags)
            trans = transitions.unsqueeze(0)
            em_steps = em.unbind(0)
            for t in range(1, seq_length):
                # shape: (batch_size, num_tags)
                nxt = torch.logsumexp(a_hat.unsqueeze(2) + trans, dim=1).add_(em_steps[t])
                # shape: (batch_size, 1)
                scale = nxt.amax(1, keepdim=True)
                # shape: (batch_size, num_tags)
                a_hat = torch.where(mask_steps[t], nxt.sub_(scale), a_hat)
                a_hats.append(a_hat)
                scales.append(scale)
        # scales of every step (also padding ones, used by backward only)
        # shape: (seq_length, batch_size, 1)
        scales_t = torch.stack(scales)
        # shape: (batch_size, num_tags)
        final = a_hat + end
        # shape: (batch_size,)
        scale_end = torch.logsumexp(final, dim=1)
        # shape: (batch_size,)
        log_z = torch.where(mask_t, scales_t, 0.0).sum(0).squeeze(1) + scale_end

        ctx.save_for_backward(emissions, mask, end, transitions, torch.stack(a_hats), scales_t, final, scale_end)
        ctx.use_mm = use_mm
        return log_z

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_log_z: torch.Tensor):  # type: ignore[override]
        emissions, mask, end, transitions, a_hats, scales_t, final, scale_end = ctx.saved_tensors
        seq_length = emissions.size(1)
        need_em, _, need_start, need_end, need_trans = ctx.needs_input_grad

        # emissions minus the forward scale of the same step
        # shape: (seq_length, batch_size, num_tags)
        em_s = emissions.transpose(0, 1).contiguous() - scales_t
        # shape: (seq_length, batch_size, 1)
        mask_t = mask.t().unsqueeze(2)
        mask_steps = mask_t.unbind(0)
        use_mm = ctx.use_mm
        t_max = transitions.max()

        # b_hat_t = beta_t - log Z + S_t, beta_t[b, i] being the log-sum of the
        # scores of all suffixes after position t given tag i at t (beta = end
        # at and after the last real position)
        # shape: (batch_size, num_tags)
        end_hat = end - scale_end.unsqueeze(1)
        b_hat = end_hat
        b_hats = [b_hat]
        if use_mm:
            # logsumexp_j(T[i, j] + v[j]) = log(exp(v - m) @ exp(T - t_max).T) + m + t_max
            # with t_max folded into v
            # shape: (num_tags, num_tags), [j, i] = exp(T[i, j] - t_max)
            exp_trans_t = torch.exp(transitions - t_max).t()
            em_steps = (em_s + t_max).unbind(0)
            for t in range(seq_length - 1, 0, -1):
                # shape: (batch_size, num_tags)
                v = em_steps[t] + b_hat
                # shape: (batch_size, 1)
                m = v.amax(1, keepdim=True)
                # shape: (batch_size, num_tags)
                nxt = torch.mm(v.sub_(m).exp_(), exp_trans_t).log_().add_(m)
                # shape: (batch_size, num_tags)
                b_hat = torch.where(mask_steps[t], nxt, end_hat)
                b_hats.append(b_hat)
        else:
            # shape: (1, num_tags, num_tags)
            trans = transitions.unsqueeze(0)
            em_steps = em_s.unbind(0)
            for t in range(seq_length - 1, 0, -1):
                # shape: (batch_size, num_tags)
                nxt = torch.logsumexp(trans + (em_steps[t] + b_hat).unsqueeze(1), dim=2)
                # shape: (batch_size, num_tags)
                b_hat = torch.where(mask_steps[t], nxt, end_hat)
                b_hats.append(b_hat)
        b_hats.reverse()
        # shape: (seq_length, batch_size, num_tags)
        b_hats_t = torch.stack(b_hats)

        # shape: (1, batch_size, 1)
        g = grad_log_z.view(1, -1, 1)

        grad_em = grad_start = grad_end = grad_trans = None
        if need_em or need_start:
            # unary marginals p(y_t = j), zero at padding
            # shape: (seq_length, batch_size, num_tags)
            unary = torch.where(mask_t, torch.exp(a_hats + b_hats_t), 0.0) * g
            if need_em:
                # shape: (batch_size, seq_length, num_tags)
                grad_em = unary.transpose(0, 1)
            if need_start:
                # shape: (num_tags,)
                grad_start = unary[0].sum(0)
        if need_end:
            # p(y_last = j)
            # shape: (num_tags,)
            grad_end = (torch.exp(final - scale_end.unsqueeze(1)) * g[0]).sum(0)
        if need_trans:
            if seq_length > 1:
                # pairwise marginals p(y_{t-1} = i, y_t = j) for t >= 1, zero at padding
                # shape: (seq_length - 1, batch_size, num_tags, num_tags)
                pair = torch.exp(a_hats[:-1].unsqueeze(3) + transitions + (em_s[1:] + b_hats_t[1:]).unsqueeze(2))
                # shape: (seq_length - 1, batch_size, num_tags, num_tags)
                pair = torch.where(mask_t[1:].unsqueeze(3), pair, 0.0) * g.unsqueeze(3)
                # shape: (num_tags, num_tags)
                grad_trans = pair.sum((0, 1))
            else:
                grad_trans = torch.zeros_like(transitions)
        return grad_em, None, grad_start, grad_end, grad_trans
