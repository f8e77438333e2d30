{% macro is_placeholder(column) -%}
    (length({{ column }}) <= {{ var('placeholder_max_chars') }}
     and regexp_replace(lower(left({{ column }}, {{ var('placeholder_max_chars') + 1 }})), '[^a-z0-9]', '', 'g')
        in ({% for text in var('placeholder_texts') %}'{{ text }}'{% if not loop.last %}, {% endif %}{% endfor %})
     )
{%- endmacro %}

{% macro approx_tokens(column) -%}
    {#- Word-piece count by the usual pre-tokenizer split: runs of word characters and
        single punctuation marks. A model-free stand-in for a tokenizer count. -#}
    len(regexp_extract_all({{ column }}, '\w+|[^\w\s]'))
{%- endmacro %}
